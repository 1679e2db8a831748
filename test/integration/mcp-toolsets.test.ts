import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import {
  type FakeReply,
  type RecordedRequest,
  textReply,
  toolCallReply,
} from '../fakes/fake-openai-server.ts';
import {
  buildTestConfig,
  eventually,
  testCaller,
  testConfigLayer,
  testEnv,
} from '../support/baton-harness.ts';
import {
  everythingServerScript,
  filesystemServerScript,
  type HttpMcpServer,
  type RecordingProxy,
  readRecorderLog,
  startEverythingHttpServer,
  startRecordingProxy,
  stdioRecorderScript,
} from '../support/mcp-servers.ts';
import { goalOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 12, MCP toolsets, against the real @modelcontextprotocol/server-everything (over stdio behind a
 * recorder, and over Streamable HTTP) and @modelcontextprotocol/server-filesystem: children get a server's
 * tools as `<server>__<tool>` by naming `mcp:<server>`, call them through the scripted model, survive the
 * server's crash, cancel their calls on the server, and give each server only the environment it lists.
 */

const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let httpServer: HttpMcpServer;
let httpProxy: RecordingProxy;

const growingServerScript = path.resolve('test/fakes/mcp-growing-server.mjs');
const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-mcp-'));
const everythingLog = path.join(directory, 'everything.log');
const limitedLog = path.join(directory, 'limited.log');
const sharedDirectory = mkdtempSync(path.join(os.tmpdir(), 'baton-mcp-files-'));
writeFileSync(path.join(sharedDirectory, 'launch.txt'), 'The launch code is 4711.\n');

/** Baton's own environment in these tests: credentials no MCP server should see, and one it should. */
const batonEnvironment: NodeJS.ProcessEnv = {
  ...testEnv(),
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/root',
  DISCORD_TOKEN: 'discord-token-never-for-mcp-servers',
  SLACK_BOT_TOKEN: 'xoxb-never-for-mcp-servers',
  MCP_UNLISTED_SECRET: 'unlisted-secret-value',
  TRACKER_TOKEN: 'tracker-token-for-everything-only',
};

/** The servers of these tests, as `mcp_servers` config. */
function mcpServersLayer() {
  return {
    everything: {
      command: 'node',
      args: [stdioRecorderScript, everythingLog, everythingServerScript, 'stdio'],
      env: ['TRACKER_TOKEN'],
      timeout_s: 60,
    },
    limited: {
      command: process.execPath,
      args: [stdioRecorderScript, limitedLog, everythingServerScript, 'stdio'],
      tools: ['echo', 'get-sum'],
      approval: ['get-sum'],
    },
    web_everything: { url: httpServer.url, timeout_s: 5 },
    web_recorded: {
      url: httpProxy.url,
      headers: { 'x-dashboards-key': 'dashboards-key-for-this-server-only' },
      tools: ['trigger-long-running-operation'],
    },
    files: { command: 'node', args: [filesystemServerScript, sharedDirectory] },
    growing: { command: 'node', args: [growingServerScript], timeout_s: 2 },
    missing: { command: 'node', args: [path.join(directory, 'no-such-server.js')], timeout_s: 10 },
  };
}

beforeAll(async () => {
  httpServer = await startEverythingHttpServer();
  httpProxy = await startRecordingProxy(httpServer.url);
  const config = buildTestConfig(testConfigLayer(fake, { mcp_servers: mcpServersLayer() }));
  runtime = await startRuntime(config, batonEnvironment);
  await runtime.startWorker();
}, 60_000);

afterAll(async () => {
  await httpProxy?.close();
  await httpServer?.stop();
});

type Script = (request: RecordedRequest, call: number) => FakeReply;

/** Runs one child with `toolsets` and the model script `script`; resolves with its record when it ends. */
async function runChild(goal: string, toolsets: string[], script: Script): Promise<TaskRecord> {
  fake.setHandler(scriptByGoal({ [goal]: script }));
  const [record] = await runtime.service.dispatch(testCaller(), [{ goal, toolsets }]);
  const { records } = await runtime.service.waitForEnd([record!.id], 60_000);
  return records[0]!;
}

function requestsFor(goal: string): RecordedRequest[] {
  return fake.requests.filter((request) => goalOf(request) === goal);
}

/** The tools a request offered, but ask_user, which every child has. */
function toolNamesOf(request: RecordedRequest): string[] {
  return (request.body?.tools ?? [])
    .map((tool) => (tool as { function: { name: string } }).function.name)
    .filter((name) => name !== 'ask_user');
}

/** The text of the one tool result in a request (JSON `{text}` from an MCP tool, or `{error}`). */
function lastToolResult(request: RecordedRequest): Record<string, unknown> {
  return toolResultsOf(request).at(-1) as Record<string, unknown>;
}

describe('an MCP server over stdio (server-everything)', () => {
  it('lists its tools as <server>__<tool> and passes a scripted call and its result through', async () => {
    const record = await runChild('add two numbers', ['mcp:everything'], (_request, call) =>
      call === 1
        ? toolCallReply([{ name: 'everything__get-sum', arguments: { a: 2, b: 3 } }])
        : textReply('5'),
    );
    expect(record.status).toBe('completed');
    const [first, second] = requestsFor('add two numbers');
    expect(toolNamesOf(first!)).toEqual(
      expect.arrayContaining(['everything__echo', 'everything__get-sum', 'everything__get-env']),
    );
    for (const name of toolNamesOf(first!)) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    const getSum = (first!.body!.tools as Array<{ function: { name: string; parameters: unknown } }>).find(
      (tool) => tool.function.name === 'everything__get-sum',
    )!;
    expect(getSum.function.parameters).toMatchObject({ type: 'object', required: ['a', 'b'] });
    expect(lastToolResult(second!)).toEqual({ text: 'The sum of 2 and 3 is 5.' });
    expect(readRecorderLog(everythingLog).received).toContainEqual(
      expect.objectContaining({ method: 'tools/call', params: expect.objectContaining({ name: 'get-sum' }) }),
    );
  });

  it('an allow-list hides the other tools; a tool listed under approval waits for a person, and a denial never reaches the server', async () => {
    const goal = 'use the limited server';
    fake.setHandler(
      scriptByGoal({
        [goal]: (_request, call) =>
          call === 1
            ? toolCallReply([
                { name: 'limited__get-sum', arguments: { a: 1, b: 1 } },
                { name: 'limited__echo', arguments: { message: 'hello' } },
              ])
            : textReply('done'),
      }),
    );
    const [task] = await runtime.service.dispatch(testCaller(), [{ goal, toolsets: ['mcp:limited'] }]);
    await eventually(async () =>
      (await runtime.store.get(task!.id))?.status === 'waiting_approval' ? true : undefined,
    );
    expect((await runtime.store.get(task!.id))!.prompt!.action).toMatchObject({
      tool: 'limited__get-sum',
      arguments: '{"a":1,"b":1}',
    });
    // The batch waits whole: nothing reached the server yet.
    expect(readRecorderLog(limitedLog).received.filter((message) => message.method === 'tools/call')).toEqual(
      [],
    );
    await runtime.service.decide(testCaller(), task!.id, false, 'not today');
    const { records } = await runtime.service.waitForEnd([task!.id], 60_000);
    expect(records[0]!.status).toBe('completed');
    const [first, second] = requestsFor(goal);
    expect(toolNamesOf(first!).sort()).toEqual(['limited__echo', 'limited__get-sum']);
    const [sumResult, echoResult] = toolResultsOf(second!) as Array<Record<string, string>>;
    expect(sumResult!.error).toBe('limited__get-sum was not run: Ada denied it. Reason: not today');
    expect(echoResult).toEqual({ text: 'Echo: hello' });
    const calls = readRecorderLog(limitedLog).received.filter((message) => message.method === 'tools/call');
    expect(calls.map((message) => (message.params as { name: string }).name)).toEqual(['echo']);
  });

  it('a server killed mid-call: the call returns a tool error, the server is started again, the next call works', async () => {
    const before = runtime.mcp.connection('everything')!.status().restarts;
    const goal = 'survive a crash';
    fake.setHandler(
      scriptByGoal({
        [goal]: (_request, call) =>
          call === 1
            ? toolCallReply([
                {
                  name: 'everything__trigger-long-running-operation',
                  arguments: { duration: 30, steps: 30 },
                },
              ])
            : call === 2
              ? toolCallReply([{ name: 'everything__echo', arguments: { message: 'still here' } }])
              : textReply('recovered'),
      }),
    );
    const [dispatched] = await runtime.service.dispatch(testCaller(), [
      { goal, toolsets: ['mcp:everything'] },
    ]);
    const pid = await eventually(async () => {
      const log = readRecorderLog(everythingLog);
      const started = log.received.some(
        (message) =>
          message.method === 'tools/call' &&
          (message.params as { name: string }).name === 'trigger-long-running-operation',
      );
      return started && log.pid ? log.pid : undefined;
    });
    process.kill(pid, 'SIGKILL');
    const { records } = await runtime.service.waitForEnd([dispatched!.id], 60_000);
    expect(records[0]!.status).toBe('completed');
    const [, second, third] = requestsFor(goal);
    expect(String(lastToolResult(second!).error)).toMatch(/MCP server "everything" stopped during the call/);
    expect(lastToolResult(third!)).toEqual({ text: 'Echo: still here' });
    const status = runtime.mcp.connection('everything')!.status();
    expect(status.state).toBe('ready');
    expect(status.restarts).toBe(before + 1);
    expect(readRecorderLog(everythingLog).pid).not.toBe(pid);
  });

  it('cancelling the task sends notifications/cancelled for its call in flight', async () => {
    const goal = 'wait on a long call';
    fake.setHandler(
      scriptByGoal({
        [goal]: () =>
          toolCallReply([
            { name: 'everything__trigger-long-running-operation', arguments: { duration: 30, steps: 30 } },
          ]),
      }),
    );
    const [dispatched] = await runtime.service.dispatch(testCaller(), [
      { goal, toolsets: ['mcp:everything'] },
    ]);
    const requestId = await eventually(async () => {
      const call = readRecorderLog(everythingLog).received.findLast(
        (message) =>
          message.method === 'tools/call' &&
          (message.params as { name: string }).name === 'trigger-long-running-operation',
      );
      // The crash test's call came before; this task's call is the one after its dispatch.
      return call && requestsFor(goal).length === 1 ? (call.id as number) : undefined;
    });
    const { record } = await runtime.service.cancel(testCaller(), dispatched!.id);
    expect(record.status).toBe('cancelled');
    const cancellation = await eventually(async () =>
      readRecorderLog(everythingLog).received.find(
        (message) =>
          message.method === 'notifications/cancelled' &&
          (message.params as { requestId: number }).requestId === requestId,
      ),
    );
    expect(cancellation).toBeDefined();
  });

  it('a stdio server sees only the environment its config lists: no chat tokens, nothing unlisted', async () => {
    const record = await runChild('print the environment', ['mcp:everything'], (_request, call) =>
      call === 1 ? toolCallReply([{ name: 'everything__get-env', arguments: {} }]) : textReply('seen'),
    );
    expect(record.status).toBe('completed');
    const result = lastToolResult(requestsFor('print the environment')[1]!);
    const environment = JSON.parse(String(result.text)) as Record<string, string>;
    expect(Object.keys(environment)).toEqual(['TRACKER_TOKEN']);
  });
});

describe('an MCP server over Streamable HTTP (server-everything)', () => {
  it('lists its tools and passes a call and its result through', async () => {
    const record = await runChild('echo over http', ['mcp:web_everything'], (_request, call) =>
      call === 1
        ? toolCallReply([{ name: 'web_everything__echo', arguments: { message: 'over http' } }])
        : textReply('ok'),
    );
    expect(record.status).toBe('completed');
    const [first, second] = requestsFor('echo over http');
    expect(toolNamesOf(first!)).toEqual(
      expect.arrayContaining(['web_everything__echo', 'web_everything__get-sum']),
    );
    expect(lastToolResult(second!)).toEqual({ text: 'Echo: over http' });
    expect(runtime.mcp.connection('web_everything')!.status()).toMatchObject({
      state: 'ready',
      transport: 'http',
    });
  });

  it('cancelling the task sends notifications/cancelled for its call in flight', async () => {
    const goal = 'wait on a long http call';
    fake.setHandler(
      scriptByGoal({
        [goal]: () =>
          toolCallReply([
            { name: 'web_recorded__trigger-long-running-operation', arguments: { duration: 30, steps: 30 } },
          ]),
      }),
    );
    const [dispatched] = await runtime.service.dispatch(testCaller(), [
      { goal, toolsets: ['mcp:web_recorded'] },
    ]);
    const requestId = await eventually(async () => {
      const call = httpProxy.received.find(
        (message) =>
          message.method === 'tools/call' &&
          (message.params as { name: string }).name === 'trigger-long-running-operation',
      );
      return call ? (call.id as number) : undefined;
    });
    const { record } = await runtime.service.cancel(testCaller(), dispatched!.id);
    expect(record.status).toBe('cancelled');
    const cancellation = await eventually(async () =>
      httpProxy.received.find(
        (message) =>
          message.method === 'notifications/cancelled' &&
          (message.params as { requestId: number }).requestId === requestId,
      ),
    );
    expect(cancellation).toBeDefined();
    // Its configured headers, and no credential of Baton's, went with every request.
    expect(httpProxy.headers.length).toBeGreaterThan(2);
    for (const headers of httpProxy.headers) {
      expect(headers['x-dashboards-key']).toBe('dashboards-key-for-this-server-only');
      expect(JSON.stringify(headers)).not.toMatch(/never-for-mcp-servers|tracker-token|sk-test-key/);
    }
  });

  it('a server killed mid-call: the call returns a tool error, the session is made again, the next call works', async () => {
    const goal = 'survive an http crash';
    fake.setHandler(
      scriptByGoal({
        [goal]: (_request, call) =>
          call === 1
            ? toolCallReply([
                {
                  name: 'web_everything__trigger-long-running-operation',
                  arguments: { duration: 30, steps: 30 },
                },
              ])
            : call === 2
              ? toolCallReply([{ name: 'web_everything__echo', arguments: { message: 'back again' } }])
              : textReply('recovered'),
      }),
    );
    const [dispatched] = await runtime.service.dispatch(testCaller(), [
      { goal, toolsets: ['mcp:web_everything'] },
    ]);
    await eventually(async () => (requestsFor(goal).length === 1 ? true : undefined));
    // Time for the call to reach the server, then the server dies and comes back on the same port.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await httpServer.stop();
    httpServer = await startEverythingHttpServer(httpServer.port);
    const { records } = await runtime.service.waitForEnd([dispatched!.id], 60_000);
    expect(records[0]!.status).toBe('completed');
    const [, second, third] = requestsFor(goal);
    expect(String(lastToolResult(second!).error)).toMatch(
      /web_everything.*(did not answer within 5 s|stopped during the call)/,
    );
    expect(lastToolResult(third!)).toEqual({ text: 'Echo: back again' });
    expect(runtime.mcp.connection('web_everything')!.status().state).toBe('ready');
  });
});

describe('server-filesystem given a temporary directory', () => {
  it('a child lists the directory and reads a file through it', async () => {
    const record = await runChild('find the launch code', ['mcp:files'], (_request, call) =>
      call === 1
        ? toolCallReply([{ name: 'files__list_directory', arguments: { path: sharedDirectory } }])
        : call === 2
          ? toolCallReply([
              {
                name: 'files__read_text_file',
                arguments: { path: path.join(sharedDirectory, 'launch.txt') },
              },
            ])
          : textReply('The launch code is 4711.'),
    );
    expect(record).toMatchObject({ status: 'completed', summary: 'The launch code is 4711.' });
    const [, second, third] = requestsFor('find the launch code');
    expect(String(lastToolResult(second!).text)).toContain('[FILE] launch.txt');
    expect(String(lastToolResult(third!).text)).toContain('The launch code is 4711.');
  });
});

describe('a server whose tools change, and one that does not start', () => {
  it('a tool added at run time (notifications/tools/list_changed) is offered to the children started after it', async () => {
    const record = await runChild('grow the server', ['mcp:growing'], (_request, call) =>
      call === 1
        ? toolCallReply([{ name: 'growing__grow', arguments: {} }])
        : call === 2
          ? toolCallReply([{ name: 'growing__grown_1', arguments: {} }])
          : textReply('grown'),
    );
    expect(record.status).toBe('completed');
    const [first, second, third] = requestsFor('grow the server');
    expect(toolNamesOf(first!).sort()).toEqual(['growing__freeze', 'growing__grow']);
    expect(lastToolResult(second!)).toEqual({ text: 'added grown_1' });
    // The refreshed list reaches the next child; this one keeps the tools it started with.
    expect(lastToolResult(third!)).toMatchObject({ error: expect.stringContaining('unknown tool') });
    // The notification arrives on its own; the list is read again once it has.
    await eventually(async () =>
      runtime.mcp.connection('growing')!.status().tools === 3 ? true : undefined,
    );
    const next = await runChild('use the grown tool', ['mcp:growing'], (_request, call) =>
      call === 1 ? toolCallReply([{ name: 'growing__grown_1', arguments: {} }]) : textReply('used'),
    );
    expect(next.status).toBe('completed');
    const [nextFirst, nextSecond] = requestsFor('use the grown tool');
    expect(toolNamesOf(nextFirst!).sort()).toEqual(['growing__freeze', 'growing__grow', 'growing__grown_1']);
    expect(lastToolResult(nextSecond!)).toEqual({ text: 'grown_1 ran' });
  });

  it('a server that hangs: the call times out into a tool error, the server is killed and started again', async () => {
    const connection = runtime.mcp.connection('growing')!;
    const before = { restarts: connection.status().restarts, pid: connection.pid };
    const record = await runChild('outlive a hung server', ['mcp:growing'], (_request, call) =>
      call === 1
        ? toolCallReply([{ name: 'growing__freeze', arguments: {} }])
        : call === 2
          ? toolCallReply([{ name: 'growing__grow', arguments: {} }])
          : textReply('outlived it'),
    );
    expect(record.status).toBe('completed');
    const [, second, third] = requestsFor('outlive a hung server');
    expect(lastToolResult(second!)).toEqual({
      error: 'freeze on MCP server "growing" did not answer within 2 s',
    });
    // The restarted server is a new process: its tool list starts again from the beginning.
    expect(lastToolResult(third!)).toEqual({ text: 'added grown_1' });
    expect(connection.status()).toMatchObject({ state: 'ready', restarts: before.restarts + 1 });
    expect(connection.pid).not.toBe(before.pid);
  });

  it('a server that cannot start: the child runs on without its tools, and its events say why', async () => {
    const record = await runChild('work without the missing server', ['mcp:missing', 'mcp:limited'], () =>
      textReply('did without it'),
    );
    expect(record).toMatchObject({ status: 'completed', summary: 'did without it' });
    expect(toolNamesOf(requestsFor('work without the missing server')[0]!).sort()).toEqual([
      'limited__echo',
      'limited__get-sum',
    ]);
    const events = await runtime.store.recentEvents(record.id, 20);
    expect(events.map((event) => event.text)).toContainEqual(
      expect.stringMatching(
        /^toolset mcp:missing unavailable: MCP server "missing" could not be started: .*Cannot find module/,
      ),
    );
    expect(runtime.mcp.connection('missing')!.status()).toMatchObject({ state: 'failed' });
  });
});

describe('children that name no MCP toolset', () => {
  it('start no server', async () => {
    // A runtime of its own (its own key prefix, so its worker alone runs the child).
    const fresh = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { mcp_servers: mcpServersLayer() })),
      batonEnvironment,
    );
    await fresh.startWorker();
    fake.setHandler(scriptByGoal({ 'no mcp here': () => textReply('plain') }));
    const [record] = await fresh.service.dispatch(testCaller('th-plain'), [{ goal: 'no mcp here' }]);
    const { records } = await fresh.service.waitForEnd([record!.id], 20_000);
    expect(records[0]!.status).toBe('completed');
    for (const status of Object.values(fresh.mcp.statuses())) expect(status.state).toBe('idle');
  });
});
