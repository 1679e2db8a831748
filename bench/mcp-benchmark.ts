/**
 * MCP servers: how long a server takes to start (stdio: spawn, initialize, tools/list; Streamable HTTP:
 * initialize and tools/list against a running server), and what one tool call through MCP costs against
 * the same work done by an in-process tool, both run the way the agent loop runs them (executeToolCall).
 * Uses the real @modelcontextprotocol/server-everything; no model, no Redis.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { z } from 'zod';
import { executeToolCall } from '../src/agent/execute-tool-call.ts';
import type { McpServerConfig } from '../src/config/schema.ts';
import { createSilentLogger } from '../src/logging/logger.ts';
import { findFreePort } from '../src/net/free-port.ts';
import { McpConnection } from '../src/tools/mcp/mcp-connection.ts';
import { McpToolset } from '../src/tools/mcp/mcp-toolset.ts';
import { defineTool, type Tool, type ToolContext } from '../src/tools/tool.ts';
import { projectRoot } from './processes.ts';
import { type BenchResult, CleanupStack, describeLatency, figure, summarize } from './support.ts';

const everythingScript = path.join(
  projectRoot,
  'node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);

export interface McpBenchOptions {
  log(line: string): void;
  /** Cold starts of the stdio server measured (default 5). */
  starts?: number;
  /** Tool calls measured per kind (default 1000, after 100 warm-up). */
  calls?: number;
}

const stdioConfig: McpServerConfig = {
  command: 'node',
  args: [everythingScript, 'stdio'],
  cwd: null,
  env: [],
  tools: ['echo'],
  timeout_s: 60,
  approval: [],
};

function context(): ToolContext {
  return {
    sessionKey: 'bench:mcp:thread',
    origin: { platform: 'bench', channel: 'c', thread: 't', user: 'u' },
    callerTaskId: 't_bench1',
    depth: 1,
    signal: new AbortController().signal,
  };
}

/** The same work as server-everything's echo, done in process: the baseline of a call. */
const directEcho: Tool = defineTool({
  name: 'direct__echo',
  description: 'Echoes back the input string',
  inputSchema: z.record(z.string(), z.unknown()),
  async execute(input) {
    return { text: `Echo: ${String(input.message)}` };
  },
});

async function timeCalls(tool: Tool, count: number): Promise<number[]> {
  const tools = new Map([[tool.name, tool]]);
  const run = async (index: number) => {
    const call = {
      id: `call_${index}`,
      type: 'function' as const,
      function: { name: tool.name, arguments: JSON.stringify({ message: `hello ${index}` }) },
    };
    const started = performance.now();
    const outcome = await executeToolCall(call, tools, context(), 60_000);
    const elapsed = performance.now() - started;
    if (!outcome.ok) throw new Error(`${tool.name} failed: ${outcome.content}`);
    return elapsed;
  };
  for (let index = 0; index < 100; index += 1) await run(index);
  const samples: number[] = [];
  for (let index = 0; index < count; index += 1) samples.push(await run(index));
  return samples;
}

async function startHttpServer(cleanup: CleanupStack): Promise<string> {
  const port = await findFreePort();
  const child = spawn(process.execPath, [everythingScript, 'streamableHttp'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.add('stop the HTTP MCP server', () => {
    child.kill('SIGKILL');
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stdout.on('data', () => undefined);
  const deadline = Date.now() + 30_000;
  while (!output.includes('listening on port')) {
    if (Date.now() > deadline) throw new Error(`HTTP MCP server did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return `http://127.0.0.1:${port}/mcp`;
}

export async function benchMcp(options: McpBenchOptions): Promise<BenchResult[]> {
  const starts = options.starts ?? 5;
  const calls = options.calls ?? 1000;
  const logger = createSilentLogger();
  const cleanup = new CleanupStack();
  try {
    options.log(`stdio: ${starts} cold starts of server-everything …`);
    const startSamples: number[] = [];
    for (let index = 0; index < starts; index += 1) {
      const connection = new McpConnection('everything', stdioConfig, { env: process.env, logger });
      const started = performance.now();
      await new McpToolset(connection, stdioConfig).tools();
      startSamples.push(performance.now() - started);
      await connection.close();
    }

    const stdio = new McpConnection('everything', stdioConfig, { env: process.env, logger });
    cleanup.add('close the stdio MCP server', () => stdio.close());
    const [stdioEcho] = await new McpToolset(stdio, stdioConfig).tools();
    options.log(`stdio: ${calls} echo calls …`);
    const stdioCalls = await timeCalls(stdioEcho!, calls);
    options.log(`direct: ${calls} echo calls …`);
    const directCalls = await timeCalls(directEcho, calls);

    const url = await startHttpServer(cleanup);
    const httpConfig: McpServerConfig = { url, headers: {}, tools: ['echo'], timeout_s: 60, approval: [] };
    options.log(`http: ${starts} connects and ${calls} echo calls …`);
    const connectSamples: number[] = [];
    for (let index = 0; index < starts; index += 1) {
      const connection = new McpConnection('web', httpConfig, { env: process.env, logger });
      const started = performance.now();
      await new McpToolset(connection, httpConfig).tools();
      connectSamples.push(performance.now() - started);
      await connection.close();
    }
    const http = new McpConnection('web', httpConfig, { env: process.env, logger });
    cleanup.add('close the HTTP MCP session', () => http.close());
    const [httpEcho] = await new McpToolset(http, httpConfig).tools();
    const httpCalls = await timeCalls(httpEcho!, calls);

    const start = summarize(startSamples);
    const connect = summarize(connectSamples);
    const stdioSummary = summarize(stdioCalls);
    const httpSummary = summarize(httpCalls);
    const directSummary = summarize(directCalls);
    const callNotes = (kind: string, summary: ReturnType<typeof summarize>) =>
      `${calls} sequential echo calls (after 100 warm-up) through executeToolCall to server-everything over ` +
      `${kind}, one connection; ${describeLatency(summary)}`;
    const directNotes = `the same calls to an in-process echo tool: ${describeLatency(directSummary)}`;
    return [
      figure('mcp_stdio_start_ms', start.p50, 'ms', {
        notes:
          `median of ${starts} cold starts of server-everything over stdio (spawn node, initialize, tools/list, ` +
          `toolset built): ${startSamples.map((value) => Math.round(value)).join(', ')} ms`,
      }),
      figure('mcp_http_connect_ms', connect.p50, 'ms', {
        notes:
          `median of ${starts} connections to a running server-everything over Streamable HTTP (initialize, ` +
          `tools/list): ${connectSamples.map((value) => Math.round(value)).join(', ')} ms`,
      }),
      figure('mcp_stdio_call_p50_ms', stdioSummary.p50, 'ms', { notes: callNotes('stdio', stdioSummary) }),
      figure('mcp_stdio_call_p99_ms', stdioSummary.p99, 'ms', { notes: callNotes('stdio', stdioSummary) }),
      figure('mcp_http_call_p50_ms', httpSummary.p50, 'ms', {
        notes: callNotes('Streamable HTTP', httpSummary),
      }),
      figure('mcp_http_call_p99_ms', httpSummary.p99, 'ms', {
        notes: callNotes('Streamable HTTP', httpSummary),
      }),
      figure('mcp_direct_call_p50_ms', directSummary.p50, 'ms', { notes: directNotes }),
      figure('mcp_stdio_call_overhead_p50_ms', stdioSummary.p50 - directSummary.p50, 'ms', {
        notes: 'p50 of a call over stdio minus p50 of the same call to an in-process tool',
      }),
      figure('mcp_http_call_overhead_p50_ms', httpSummary.p50 - directSummary.p50, 'ms', {
        notes: 'p50 of a call over Streamable HTTP minus p50 of the same call to an in-process tool',
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
