// A pass-through between Baton and a real stdio MCP server, recording what the server receives.
// Usage: node mcp-stdio-recorder.mjs <log file> <server script> [server args…]
// The log file gets one JSON line per event: {"pid": <this process>} first, then {"received": <message>}
// for every JSON-RPC message sent to the server. Killing this process closes the server's stdin, so the
// server stops too, as a crash would look to Baton. Its environment is passed on unchanged.
import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';

const [logFile, serverScript, ...serverArgs] = process.argv.slice(2);
writeFileSync(logFile, `${JSON.stringify({ pid: process.pid })}\n`);
// stderr is piped, not inherited: the server must hold none of Baton's pipes, so that killing this process
// closes them at once, as a crash of the server itself would.
const server = spawn(process.execPath, [serverScript, ...serverArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
server.stderr.pipe(process.stderr);
let pending = '';
process.stdin.on('data', (chunk) => {
  server.stdin.write(chunk);
  pending += chunk.toString();
  let newline = pending.indexOf('\n');
  while (newline !== -1) {
    const line = pending.slice(0, newline).trim();
    pending = pending.slice(newline + 1);
    if (line) appendFileSync(logFile, `${JSON.stringify({ received: JSON.parse(line) })}\n`);
    newline = pending.indexOf('\n');
  }
});
process.stdin.on('end', () => server.stdin.end());
server.stdout.pipe(process.stdout);
server.on('exit', (code) => process.exit(code ?? 1));
