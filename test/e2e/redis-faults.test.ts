import { afterEach, describe, expect, it } from 'vitest';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { goalOf, messagesOf, toolResultsOf } from '../support/model-scripts.ts';
import { type RestartableRedis, startRestartableRedis } from '../support/restartable-redis.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Redis faults with real processes: a gateway and a worker on a redis-server with AOF that the test stops
 * and starts. 50 children run; every one must finish and its result be posted exactly once.
 */

const { fake } = useTestEnvironment({ clearScriptAfterEach: true });
const processes: BatonProcess[] = [];
let redis: RestartableRedis | null = null;

afterEach(async (context) => {
  if (context.task.result?.state === 'fail')
    for (const started of processes) process.stderr.write(`--- pid ${started.pid}:\n${started.output()}\n`);
  for (const started of processes.splice(0)) {
    started.child.kill('SIGKILL');
    await started.exited;
  }
  await redis?.destroy();
  redis = null;
});

const childCount = 50;
const goals = Array.from({ length: childCount }, (_, index) => `child ${index}`);

const layer = () =>
  testConfigLayer(fake, {
    console: { port: 0 },
    delegation: { max_concurrent_children: 100 },
    quotas: { max_active_tasks_per_user: 100, max_active_tasks_per_channel: 100 },
    worker: { concurrency: 50 },
  });

/** The parent starts 50 children at once; each child answers after 0.5–4 s. */
function fiftyChildren(): void {
  fake.setHandler(async (request) => {
    const goal = goalOf(request);
    if (goal !== null) {
      await new Promise((resolve) => setTimeout(resolve, 500 + Math.random() * 3500));
      return textReply(`result of ${goal}.`);
    }
    return messagesOf(request).at(-1)?.role === 'tool'
      ? textReply('Started fifty tasks.')
      : toolCallReply(goals.map((goal) => ({ name: 'delegate_task_async', arguments: { goal } })));
  });
}

async function startBaton(url: string) {
  // One layer for both: it carries the key prefix they share.
  const shared = layer();
  const worker = await spawnBatonProcess('worker', url, shared);
  processes.push(worker);
  const gateway = await spawnBatonProcess('gateway', url, shared);
  processes.push(gateway);
  return { worker, gateway, ops: /"ops":"(http:[^"]+)"/.exec(gateway.output())![1]! };
}

/** How many times each child's result was posted in the thread. */
async function postedCounts(consoleUrl: string, thread: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const text of await botTexts(consoleUrl, thread)) {
    for (const [, goal] of text.matchAll(/result of (child \d+)\./g))
      counts.set(goal!, (counts.get(goal!) ?? 0) + 1);
  }
  return counts;
}

/** What the thread and the model saw, for a failure's message. */
async function describeRun(consoleUrl: string, thread: string): Promise<string> {
  const texts = await botTexts(consoleUrl, thread).catch((error: unknown) => [String(error)]);
  const childCalls = fake.requests.filter((request) => goalOf(request) !== null).length;
  const lastParent = fake.requests.filter((request) => goalOf(request) === null).at(-1);
  const toolResults = lastParent ? JSON.stringify(toolResultsOf(lastParent)).slice(0, 600) : 'none';
  return `${childCalls} child model calls (of ${fake.requests.length}); parent's tool results: ${toolResults}; thread:\n${texts.map((text) => text.slice(0, 300)).join('\n')}`;
}

async function waitForFirstResults(consoleUrl: string, thread: string): Promise<void> {
  try {
    await eventually(
      async () => ((await postedCounts(consoleUrl, thread)).size >= 5 ? true : undefined),
      120_000,
      'the first results',
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${await describeRun(consoleUrl, thread)}`);
  }
}

async function runFifty(consoleUrl: string) {
  fiftyChildren();
  const thread = await createConsoleThread(consoleUrl, 'redis faults');
  await postConsoleMessage(consoleUrl, thread, 'start fifty things');
  return thread;
}

async function expectEveryResultPostedOnce(consoleUrl: string, thread: string): Promise<void> {
  await eventually(
    async () => ((await postedCounts(consoleUrl, thread)).size === childCount ? true : undefined),
    240_000,
    'all 50 results',
  );
  // Time for a duplicate to show up, if one were coming.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const counts = await postedCounts(consoleUrl, thread);
  expect(counts.size).toBe(childCount);
  expect([...counts.entries()].filter(([, count]) => count !== 1)).toEqual([]);
}

const occurrences = (output: string, text: string) => output.split(text).length - 1;

describe('Redis restarted while 50 children run and results are delivered', () => {
  for (const [fsync, signal] of [
    ['everysec', 'SIGTERM'],
    ['always', 'SIGKILL'],
  ] as const) {
    it(`finishes every task and posts each result once (appendfsync ${fsync}, Redis ${signal}ed)`, {
      timeout: 480_000,
    }, async () => {
      redis = await startRestartableRedis({ appendfsync: fsync });
      const { worker, gateway } = await startBaton(redis.url);
      const thread = await runFifty(gateway.consoleUrl!);
      // Some results are posted, the rest of the children still run.
      await waitForFirstResults(gateway.consoleUrl!, thread);
      await redis.stop(signal);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await redis.start();
      await expectEveryResultPostedOnce(gateway.consoleUrl!, thread);
      for (const started of [worker, gateway]) {
        expect(started.child.exitCode).toBe(null);
        expect(occurrences(started.output(), 'lost Redis at')).toBe(1);
        expect(occurrences(started.output(), 'Redis is back at')).toBe(1);
      }
    });
  }
});

describe('Redis unreachable for 30 s mid-run', () => {
  it('crashes nothing, says down (health, console), then resumes and posts each result once', {
    timeout: 480_000,
  }, async () => {
    redis = await startRestartableRedis();
    const { worker, gateway, ops } = await startBaton(redis.url);
    const thread = await runFifty(gateway.consoleUrl!);
    await waitForFirstResults(gateway.consoleUrl!, thread);
    await redis.stop('SIGTERM');
    const downAt = Date.now();
    await eventually(
      async () => {
        const status = (await (await fetch(`${gateway.consoleUrl}/api/status`)).json()) as { redis: string };
        return status.redis === 'down' ? true : undefined;
      },
      10_000,
      'the console to say Redis is down',
    );
    const health = await fetch(`${ops}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ok: false, redis: 'down' });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - downAt))));
    for (const started of [worker, gateway]) expect(started.child.exitCode).toBe(null);
    await redis.start();
    await expectEveryResultPostedOnce(gateway.consoleUrl!, thread);
    expect(
      ((await (await fetch(`${gateway.consoleUrl}/api/status`)).json()) as { redis: string }).redis,
    ).toBe('up');
    for (const started of [worker, gateway]) {
      expect(started.child.exitCode).toBe(null);
      // One line when Redis went, one when it came back: not one per reconnect attempt.
      expect(occurrences(started.output(), 'lost Redis at')).toBe(1);
      expect(occurrences(started.output(), 'Redis is back at')).toBe(1);
      expect(
        started
          .output()
          .split('\n')
          .filter((line) => /^\s+at /.test(line)),
      ).toEqual([]);
    }
  });
});
