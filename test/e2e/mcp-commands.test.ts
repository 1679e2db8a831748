import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { everythingServerScript } from '../support/mcp-servers.ts';
import { goalOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/* Issue 12: `baton mcp list`, and a real `baton start` whose /healthz reports each MCP server's state. */

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
let started: BatonProcess | null = null;
afterEach(async () => {
  started?.child.kill('SIGKILL');
  await started?.exited;
  started = null;
});

const everything = {
  command: 'node',
  args: [everythingServerScript, 'stdio'],
  tools: ['echo', 'get-sum'],
  approval: ['get-sum'],
};

/** Runs `baton mcp list` with `layer` as its config file; resolves with its exit code and output. */
function runMcpList(
  layer: Record<string, unknown>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-mcp-list-'));
  const configFile = path.join(directory, 'baton.yaml');
  writeFileSync(configFile, toYaml(layer));
  const child = spawn(process.execPath, [path.resolve('bin/baton.js'), 'mcp', 'list'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', BATON_CONFIG: configFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('baton mcp list', () => {
  it('prints each server with its tools as the model sees them, and why a server failed', async () => {
    const { code, stdout } = await runMcpList({
      mcp_servers: {
        everything,
        broken: { command: 'node', args: [path.join(os.tmpdir(), 'no-such-mcp-server.js')], timeout_s: 10 },
      },
    });
    expect(stdout).toMatch(/^mcp:everything {2}\(stdio: node .*server-everything\/dist\/index\.js stdio\)$/m);
    expect(stdout).toMatch(/ready in \d+ ms, 2 tool\(s\), \d+ hidden by the allow-list/);
    expect(stdout).toMatch(/^ {4}everything__echo {2}Echoes back the input string$/m);
    expect(stdout).toMatch(/^ {4}everything__get-sum {2}.*\[needs approval\]$/m);
    expect(stdout).not.toContain('everything__get-env');
    expect(stdout).toMatch(
      /^mcp:broken .*\n {2}failed: MCP server "broken" could not be started: .*Cannot find module/m,
    );
    expect(code).toBe(1);
  });

  it('says so when no server is configured', async () => {
    const { code, stdout } = await runMcpList({});
    expect(stdout).toContain('No MCP servers configured');
    expect(code).toBe(0);
  });
});

describe('a real baton start with an MCP server', () => {
  it('logs its servers, reports them idle on /healthz, and ready once a child has used one', async () => {
    fake.setHandler(
      scriptByGoal(
        {
          'echo through start': (_request, call) =>
            call === 1
              ? toolCallReply([{ name: 'everything__echo', arguments: { message: 'from a child' } }])
              : textReply('echoed'),
        },
        (_request, call) =>
          call === 1
            ? toolCallReply([
                {
                  name: 'delegate_task_async',
                  arguments: { goal: 'echo through start', toolsets: ['mcp:everything'] },
                },
              ])
            : textReply('started it'),
      ),
    );
    started = await spawnBatonProcess(
      'start',
      redis.url,
      testConfigLayer(fake, { console: { port: 0 }, mcp_servers: { everything } }),
    );
    expect(started.output()).toContain('"mcpServers":["mcp:everything (stdio node)"]');
    const health = async () =>
      (await (await fetch(`${started!.consoleUrl!.replace(/\/?(\?.*)?$/, '')}/healthz`)).json()) as {
        mcp_servers: Record<string, { state: string; tools: number | null }>;
      };
    expect((await health()).mcp_servers).toEqual({
      everything: { state: 'idle', transport: 'stdio', tools: null, restarts: 0 },
    });
    const thread = await createConsoleThread(started.consoleUrl!, 'mcp');
    await postConsoleMessage(started.consoleUrl!, thread, 'echo something through a child');
    const childSecond = await eventually(
      async () => fake.requests.filter((request) => goalOf(request) === 'echo through start')[1],
      30_000,
      "the child's second model call",
    );
    expect(toolResultsOf(childSecond).at(-1)).toEqual({ text: 'Echo: from a child' });
    const ready = await eventually(async () => {
      const report = await health();
      return report.mcp_servers.everything?.state === 'ready' ? report : undefined;
    });
    expect(ready.mcp_servers.everything).toMatchObject({ state: 'ready', tools: 13, restarts: 0 });
  });
});
