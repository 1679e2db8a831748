import { afterEach, describe, expect, it } from 'vitest';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import {
  eventually,
  spawnBatonProcess,
  testConfigLayer,
  trackBatonProcesses,
} from '../support/baton-harness.ts';
import {
  describeRun,
  manyChildrenLimits,
  postedCounts,
  startManyChildren,
  waitForResults,
} from '../support/many-children.ts';
import { type RedisSentinel, startRedisSentinel } from '../support/redis-sentinel.ts';
import { type RestartableRedis, startRestartableRedis } from '../support/restartable-redis.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * A master, a replica and a Sentinel, all real redis-server processes; a gateway and a worker find the master
 * through the Sentinel. The master is SIGKILLed while children run: the Sentinel promotes the replica and
 * Baton follows. Replication is asynchronous, so a write the master acknowledged in its last moment may
 * not have reached the replica; the test measures what is kept and requires that nothing is posted twice.
 */

const { fake } = useTestEnvironment({ clearScriptAfterEach: true });
const servers: Array<RestartableRedis | RedisSentinel> = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await ('destroy' in server ? server.destroy() : server.stop());
});
const processes = trackBatonProcesses();

const childCount = 30;
const masterName = 'batonmaster';

async function replicaInSync(replicaUrl: string): Promise<true | undefined> {
  const replica = createRedisConnection(replicaUrl);
  try {
    const info = await replica.info('replication');
    return info.includes('master_link_status:up') ? true : undefined;
  } finally {
    replica.disconnect();
  }
}

describe('Redis Sentinel failover while children run', () => {
  it('follows the promoted replica, finishes the children and posts nothing twice', {
    timeout: 480_000,
  }, async () => {
    const master = await startRestartableRedis();
    servers.push(master);
    const replica = await startRestartableRedis({
      extraArgs: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    servers.push(replica);
    await eventually(() => replicaInSync(replica.url), 20_000, 'the replica to sync');
    const sentinel = await startRedisSentinel(masterName, master.port);
    servers.push(sentinel);

    // No REDIS_URL: the processes ask the Sentinel where the master is.
    const layer = testConfigLayer(fake, {
      console: { port: 0 },
      redis: { sentinels: [sentinel.address], sentinel_name: masterName },
      ...manyChildrenLimits(childCount),
    });
    const worker = await spawnBatonProcess('worker', null, layer);
    processes.push(worker);
    const gateway = await spawnBatonProcess('gateway', null, layer);
    processes.push(gateway);
    const consoleUrl = gateway.consoleUrl!;

    const thread = await startManyChildren(fake, consoleUrl, childCount);
    await waitForResults(fake, consoleUrl, thread, 5);
    const postedBefore = (await postedCounts(consoleUrl, thread)).size;
    const killedAt = Date.now();
    await master.stop('SIGKILL');
    await eventually(
      async () => (sentinel.output().includes('+switch-master') ? true : undefined),
      30_000,
      'the Sentinel to promote the replica',
    );
    const promotedAfterMs = Date.now() - killedAt;

    try {
      await eventually(
        async () => ((await postedCounts(consoleUrl, thread)).size === childCount ? true : undefined),
        240_000,
        `all ${childCount} results`,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${await describeRun(fake, consoleUrl, thread)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const counts = await postedCounts(consoleUrl, thread);
    const resumedAfterMs = Date.now() - killedAt;
    process.stdout.write(
      `sentinel failover: ${postedBefore} of ${childCount} results posted before the master was killed; ` +
        `replica promoted after ${promotedAfterMs} ms; all ${counts.size} posted ${resumedAfterMs} ms after the kill\n`,
    );
    expect(counts.size).toBe(childCount);
    expect([...counts.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    for (const started of [worker, gateway]) {
      expect(started.child.exitCode).toBe(null);
      // Reported per change of state (a failover may flap a few times), never per retry or per job.
      // (JSON lines: the quotes around the master's name are escaped.)
      expect(started.output()).toContain(`lost Redis at sentinel master \\"${masterName}\\"`);
      expect(started.output()).toContain(`Redis is back at sentinel master \\"${masterName}\\"`);
      expect(
        started
          .output()
          .split('\n')
          .filter((line) => line.includes('"level":50')),
      ).toEqual([]);
    }
  });
});
