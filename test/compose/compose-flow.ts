/**
 * The docker compose deployment, driven from outside as an operator would (run by .ci/compose-test.sh, which
 * provides the engine and the images): three workers and a gateway on the demo model, a request that makes two
 * children, the worker running one of them killed, both results posted exactly once, and the data kept across
 * `down` and `up`. Prints each step; exits non-zero on the first failure.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { findFreePort } from '../../src/net/free-port.ts';

const run = promisify(execFile);
// A request to a published port whose container is not up yet can be reset in a way that leaves Node's fetch
// with nothing to wait on; this timer keeps the process alive until the flow says it is done.
const keepAlive = setInterval(() => undefined, 1000);
const project = required('COMPOSE_PROJECT');
const directory = required('COMPOSE_DIR');
const token = randomBytes(24).toString('hex');
const started = Date.now();

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through .ci/compose-test.sh)`);
  return value;
}

function step(text: string): void {
  process.stderr.write(`compose-flow [${((Date.now() - started) / 1000).toFixed(1)} s] ${text}\n`);
}

async function compose(...args: string[]): Promise<string> {
  const files = ['-f', 'docker-compose.yml', '-f', 'docker-compose.ci.yml'];
  const { stdout } = await run('docker-compose', ['-p', project, ...files, ...args], {
    cwd: directory,
    env: { ...process.env, ...ports },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
  );
}

const ports = {
  BATON_CONSOLE_PUBLISH_PORT: String(await findFreePort()),
  BATON_SLACK_PUBLISH_PORT: String(await findFreePort()),
  BATON_REDIS_PORT: String(await findFreePort()),
};
const consoleUrl = `http://127.0.0.1:${ports.BATON_CONSOLE_PUBLISH_PORT}`;

async function api<T>(route: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(route, consoleUrl), {
    signal: AbortSignal.timeout(30_000),
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json', origin: consoleUrl }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function botTexts(thread: string): Promise<string[]> {
  const { entries } = await api<{ entries: Array<{ role: string; text?: string }> }>(
    `/api/threads/${thread}/messages`,
  );
  return entries.filter((entry) => entry.role === 'bot').map((entry) => entry.text ?? '');
}

const resultCount = async (thread: string) =>
  (await botTexts(thread)).filter((text) => text.includes('completed**')).length;

async function main(): Promise<void> {
  writeFileSync(path.join(directory, '.env'), `BATON_CONSOLE_TOKEN=${token}\n`);
  // The demo model in every Baton process; children slow enough to be caught mid-run.
  writeFileSync(
    path.join(directory, 'docker-compose.ci.yml'),
    [
      'services:',
      '  gateway:',
      '    command: ["gateway", "--demo"]',
      '  worker:',
      '    command: ["worker", "--demo"]',
      '',
    ].join('\n'),
  );

  step('docker-compose up --scale worker=3');
  await compose('up', '-d', '--no-build', '--scale', 'worker=3');
  const health = await eventually('the gateway to be healthy with 3 workers', 180_000, async () => {
    const response = await fetch(`${consoleUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as { ok: boolean; workers: number };
    return body.ok && body.workers === 3 ? body : undefined;
  });
  step(`healthy: ${JSON.stringify(health)}`);

  const { thread } = await api<{ thread: { id: string } }>('/api/threads', { title: 'compose' });
  await api(`/api/threads/${thread.id}/messages`, { text: 'Compare two job queues' });
  step('asked for two children');

  const redis = new Redis(`redis://127.0.0.1:${ports.BATON_REDIS_PORT}`, { maxRetriesPerRequest: 3 });
  try {
    const victim = await eventually('a child running on a worker', 120_000, async () => {
      const taskIds = await redis.zrange('baton:tasks', '0', '-1');
      for (const taskId of taskIds) {
        const [status, runnerToken, depth] = await redis.hmget(
          `baton:task:${taskId}`,
          'status',
          'runnerToken',
          'depth',
        );
        if (status === 'running' && runnerToken && depth !== '0')
          return { taskId, workerId: runnerToken.split(':')[0]! };
      }
      return undefined;
    });
    const containers = (await compose('ps', '-q', 'worker')).split('\n').filter(Boolean);
    let victimContainer: string | undefined;
    for (const container of containers) {
      const { stdout, stderr } = await run('docker', ['logs', container], { maxBuffer: 64 * 1024 * 1024 });
      if (`${stdout}${stderr}`.includes(victim.workerId)) victimContainer = container;
    }
    if (!victimContainer) throw new Error(`no worker container logged worker id ${victim.workerId}`);
    await run('docker', ['kill', victimContainer]);
    step(`killed worker ${victimContainer.slice(0, 12)} while it ran ${victim.taskId}`);

    await eventually('both results', 180_000, async () =>
      (await resultCount(thread.id)) === 2 ? true : undefined,
    );
    // A duplicate would arrive after the first copy: give it time to show.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const results = await resultCount(thread.id);
    if (results !== 2) throw new Error(`expected each of the 2 results once, found ${results}`);
    const victimStatus = await redis.hget(`baton:task:${victim.taskId}`, 'status');
    if (victimStatus !== 'completed') throw new Error(`the killed worker's task ended ${victimStatus}`);
    step("both results posted once; the killed worker's child finished on another worker");
  } finally {
    redis.disconnect();
  }

  step('docker-compose down, then up again');
  await compose('down');
  await compose('up', '-d', '--no-build', '--scale', 'worker=1');
  await eventually('the gateway after the restart', 180_000, async () => {
    const response = await fetch(`${consoleUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
    return response.ok ? true : undefined;
  });
  const kept = await eventually('the thread read back', 60_000, async () => {
    const count = await resultCount(thread.id);
    return count === 2 ? count : undefined;
  });
  step(`the thread and its ${kept} results are kept across down and up`);
}

try {
  await main();
  step('passed');
} catch (error) {
  step(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  try {
    process.stderr.write(await compose('logs', '--no-color', '--tail', '80'));
  } catch {}
  process.exitCode = 1;
} finally {
  await compose('down', '-v').catch(() => undefined);
  clearInterval(keepAlive);
}
