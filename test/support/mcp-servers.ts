import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { findFreePort } from '../../src/net/free-port.ts';
import { listenOnLoopback } from '../../src/net/listen-on-loopback.ts';

/* The real MCP servers the tests run (installed as devDependencies), and a recorder in front of them. */

export const everythingServerScript = path.resolve(
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);
export const filesystemServerScript = path.resolve(
  'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js',
);
/** See test/fakes/mcp-stdio-recorder.mjs: a pass-through that logs what the server receives. */
export const stdioRecorderScript = path.resolve('test/fakes/mcp-stdio-recorder.mjs');

/** What the recorder wrote: its pid, and every JSON-RPC message the server received. */
export function readRecorderLog(file: string): {
  pid: number | null;
  received: Array<Record<string, unknown>>;
} {
  if (!existsSync(file)) return { pid: null, received: [] };
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { pid?: number; received?: Record<string, unknown> });
  return {
    pid: lines[0]?.pid ?? null,
    received: lines.flatMap((line) => (line.received ? [line.received] : [])),
  };
}

export interface HttpMcpServer {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** server-everything over Streamable HTTP on a loopback port (a given one, to start it again on the same). */
export async function startEverythingHttpServer(port?: number): Promise<HttpMcpServer> {
  const chosen = port ?? (await findFreePort());
  const child = spawn(process.execPath, [everythingServerScript, 'streamableHttp'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(chosen) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const deadline = Date.now() + 20_000;
  while (!output.includes('listening on port')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server-everything (HTTP) did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${chosen}/mcp`,
    port: chosen,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface RecordingProxy {
  url: string;
  /** JSON-RPC messages the server was sent through the proxy (batches flattened), in order. */
  received: Array<Record<string, unknown>>;
  /** The headers of every request, in order. */
  headers: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/**
 * An HTTP pass-through in front of a Streamable HTTP MCP server that records every JSON-RPC message sent
 * to it, so a test can see what the real server received (a cancellation, say). Responses, server-sent
 * event streams included, are piped back unchanged.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const received: Array<Record<string, unknown>> = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((request, response) => {
    headers.push(request.headers);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length > 0) {
        try {
          const parsed = JSON.parse(body.toString()) as
            | Record<string, unknown>
            | Array<Record<string, unknown>>;
          received.push(...(Array.isArray(parsed) ? parsed : [parsed]));
        } catch {
          // Not JSON: passed on, not recorded.
        }
      }
      const forwarded = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: request.url,
          method: request.method,
          headers: { ...request.headers, host: upstream.host },
        },
        (upstreamResponse) => {
          response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(response);
        },
      );
      forwarded.on('error', () => response.destroy());
      response.on('close', () => forwarded.destroy());
      forwarded.end(body);
    });
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    received,
    headers,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
