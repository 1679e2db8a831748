import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/net/free-port.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  eventually,
  runBatonCommand,
  spawnBatonProcess,
  testConfigLayer,
  trackBatonProcesses,
  writeTestConfigFile,
} from '../support/baton-harness.ts';
import { createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { portIsOpen } from '../support/port-is-open.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake } = useTestEnvironment({ clearScriptAfterEach: true });
const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-instance-'));

const processes = trackBatonProcesses();
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const privateRedisPort = (output: string) => Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1]);
const stackTraceLines = (output: string) => output.split('\n').filter((line) => /^\s+at /.test(line)).length;

function startLayer(name: string, overrides: unknown = {}) {
  return testConfigLayer(fake, {
    redis: { local_data_dir: path.join(directory, name, 'redis') },
    console: { port: 0 },
    ...(overrides as object),
  });
}

async function start(name: string, options: { detached?: boolean; overrides?: unknown } = {}) {
  const layer = startLayer(name, options.overrides);
  const started = await spawnBatonProcess('start', null, layer, {}, [], { detached: options.detached });
  processes.push(started);
  return { started, layer, configFile: writeTestConfigFile(layer) };
}

describe('one baton start per data directory', () => {
  it('refuses a second start on the same data directory without touching the first; status and stop', async () => {
    const { started: first, configFile } = await start('shared');
    const redisPort = privateRedisPort(first.output());
    expect(await portIsOpen(redisPort)).toBe(true);

    const second = await runBatonCommand(['start'], { BATON_CONFIG: configFile });
    expect(second.code).toBe(2);
    expect(second.output).toContain('another Baton is already running on the data directory');
    expect(second.output).toContain(`pid ${first.pid}`);
    expect(second.output).toContain('baton stop');
    expect(second.output).toContain('BATON_CONSOLE_PORT');
    expect(stackTraceLines(second.output)).toBe(0);
    // The first one is untouched: its redis-server still runs and its console still answers.
    expect(await portIsOpen(redisPort)).toBe(true);
    const health = await fetch(`${first.consoleUrl}/healthz`);
    expect(health.status).toBe(200);

    const status = await runBatonCommand(['status'], { BATON_CONFIG: configFile });
    expect(status.code).toBe(0);
    expect(status.output).toContain(`Baton is running: pid ${first.pid}`);
    expect(status.output).toContain(first.consoleUrl!);
    expect(status.output).toMatch(/health:\s+ok/);

    const stop = await runBatonCommand(['stop'], { BATON_CONFIG: configFile });
    expect(stop.code).toBe(0);
    expect(stop.output).toContain('Stopped.');
    expect(first.child.exitCode).toBe(0);
    expect(await portIsOpen(redisPort)).toBe(false);
    expect(existsSync(path.join(directory, 'shared', 'redis', 'baton.pid'))).toBe(false);

    const after = await runBatonCommand(['status'], { BATON_CONFIG: configFile });
    expect(after.code).toBe(3);
    expect(after.output).toContain('Baton is not running');
  });

  it('says in one line that the console port is taken, and leaves no redis-server behind', async () => {
    const port = await findFreePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    try {
      const layer = startLayer('port-taken', { console: { port } });
      const result = await runBatonCommand(['start'], { BATON_CONFIG: writeTestConfigFile(layer) });
      expect(result.code).toBe(2);
      expect(result.output).toContain(
        `baton: the console cannot listen on 127.0.0.1:${port}: the port is already in use`,
      );
      expect(result.output).toContain('BATON_CONSOLE_PORT');
      expect(stackTraceLines(result.output)).toBe(0);
      const redisPort = privateRedisPort(result.output);
      expect(redisPort).toBeGreaterThan(0);
      expect(await portIsOpen(redisPort)).toBe(false);
      expect(existsSync(path.join(directory, 'port-taken', 'redis', 'baton.pid'))).toBe(false);
    } finally {
      blocker.close();
    }
  });
});

describe('REDIS_URL that answers nothing', () => {
  for (const [what, url, reason] of [
    ['a closed port', 'redis://127.0.0.1:1', 'connection refused'],
    ['an unknown host', 'redis://no-such-host.invalid:6379', 'unknown host no-such-host.invalid'],
  ] as const) {
    it(`ends baton gateway with one clear line for ${what}`, async () => {
      const layer = testConfigLayer(fake, { console: { port: 0 } });
      const result = await runBatonCommand(['gateway'], {
        BATON_CONFIG: writeTestConfigFile(layer),
        REDIS_URL: url,
      });
      expect(result.code).toBe(2);
      expect(result.output.trim().split('\n')).toEqual([`baton: cannot reach Redis at ${url}: ${reason}`]);
      // Start-up of node itself is slow on a loaded machine; the probe gives up after 5 s.
      expect(result.durationMs).toBeLessThan(30_000);
    });
  }
});

describe('Ctrl-C while children run', () => {
  /** A parent that starts two children whose model calls never answer (until aborted). */
  function twoHangingChildren() {
    fake.setHandler(
      scriptByGoal(
        { 'hang one': () => new Promise(() => undefined), 'hang two': () => new Promise(() => undefined) },
        (request) =>
          messagesOf(request).at(-1)?.role === 'tool'
            ? textReply('Started two tasks.')
            : toolCallReply([
                { name: 'delegate_task_async', arguments: { goal: 'hang one' } },
                { name: 'delegate_task_async', arguments: { goal: 'hang two' } },
              ]),
      ),
    );
  }

  async function startWithRunningChildren(name: string) {
    twoHangingChildren();
    const { started } = await start(name, { detached: true });
    const thread = await createConsoleThread(started.consoleUrl!, 'ctrl-c');
    await postConsoleMessage(started.consoleUrl!, thread, 'start two things');
    await eventually(
      async () =>
        fake.requests.filter((request) => goalOf(request) !== null).length >= 2 ? true : undefined,
      30_000,
      'both children to call the model',
    );
    return { started, redisPort: privateRedisPort(started.output()) };
  }

  it('drains, then stops the private redis-server itself, and exits 0 (SIGINT to the whole group)', async () => {
    const { started, redisPort } = await startWithRunningChildren('ctrl-c');
    process.kill(-started.pid, 'SIGINT');
    // The redis-server is in a group of its own: the terminal's signal does not reach it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await portIsOpen(redisPort)).toBe(true);
    const code = await Promise.race([
      started.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 45_000)),
    ]);
    expect(code).toBe(0);
    expect(started.output()).toContain('a second Ctrl-C stops at once');
    expect(started.output()).not.toContain('lost Redis');
    expect(await portIsOpen(redisPort)).toBe(false);
  });

  it('stops at once on a second Ctrl-C, saying so, and still stops the private redis-server', async () => {
    const { started, redisPort } = await startWithRunningChildren('ctrl-c-twice');
    process.kill(-started.pid, 'SIGINT');
    await eventually(
      async () => (started.output().includes('shutting down') ? true : undefined),
      10_000,
      'the first Ctrl-C to be taken',
    );
    process.kill(-started.pid, 'SIGINT');
    const code = await Promise.race([
      started.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000)),
    ]);
    expect(code).toBe(1);
    expect(started.output()).toContain('second Ctrl-C: stopping now');
    expect(await portIsOpen(redisPort)).toBe(false);
  });
});
