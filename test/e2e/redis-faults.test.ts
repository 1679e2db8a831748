import { afterEach, describe, expect, it } from 'vitest';
import {
  eventually,
  spawnBatonProcess,
  testConfigLayer,
  trackBatonProcesses,
} from '../support/baton-harness.ts';
import {
  manyChildrenLimits,
  postedCounts,
  startManyChildren,
  waitForResults,
} from '../support/many-children.ts';
import { type RestartableRedis, startRestartableRedis } from '../support/restartable-redis.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Redis faults with real processes: a gateway and a worker on a redis-server with AOF that the test stops
 * and starts. 50 children run; every one must finish and its result be posted exactly once.
 */

const { fake } = useTestEnvironment({ clearScriptAfterEach: true });
let redis: RestartableRedis | null = null;

afterEach(async () => {
  await redis?.destroy();
  redis = null;
});
const processes = trackBatonProcesses();

const childCount = 50;

const layer = () => testConfigLayer(fake, { console: { port: 0 }, ...manyChildrenLimits(childCount) });

async function startBaton(url: string) {
  // One layer for both: it carries the key prefix they share.
  const shared = layer();
  const worker = await spawnBatonProcess('worker', url, shared);
  processes.push(worker);
  const gateway = await spawnBatonProcess('gateway', url, shared);
  processes.push(gateway);
  return { worker, gateway, ops: /"ops":"(http:[^"]+)"/.exec(gateway.output())![1]! };
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
      const thread = await startManyChildren(fake, gateway.consoleUrl!, childCount);
      // Some results are posted, the rest of the children still run.
      await waitForResults(fake, gateway.consoleUrl!, thread, 5);
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
    const thread = await startManyChildren(fake, gateway.consoleUrl!, childCount);
    await waitForResults(fake, gateway.consoleUrl!, thread, 5);
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
