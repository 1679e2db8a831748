/**
 * Bounded Redis: 100,000 tasks created and finished with a short retention period, then Redis memory and
 * key count watched until every record has expired and the retention sweeper has emptied the indexes. The
 * tasks go straight through TaskStore (admit, claim, complete: the scripts children use), with no model and
 * no queue, so the figures are about what a finished task leaves in Redis and nothing else.
 */
import type { Redis } from 'ioredis';
import { createSilentLogger } from '../src/logging/logger.ts';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { RedisKeys } from '../src/redis/redis-keys.ts';
import { RetentionSweeper } from '../src/runtime/retention-sweeper.ts';
import { KnownThreads } from '../src/sessions/known-threads.ts';
import type { TaskOrigin, TaskRecord } from '../src/tasks/task-record.ts';
import { TaskStore } from '../src/tasks/task-store.ts';
import {
  type BenchContext,
  type BenchResult,
  benchPrefix,
  figure,
  round,
  sleep,
  waitFor,
} from './support.ts';

const taskCount = Number(process.env.BENCH_RETENTION_TASKS ?? 100_000);
const batchSize = 100;
/** Batches in flight at once. */
const parallelBatches = 4;
const sessions = 1000;
const channels = 50;
/**
 * redis.retention_days: 1/720 (two minutes; the configuration allows down to one). Long enough that no
 * task expires before the last one is created, so the peak holds all of them.
 */
const retentionSeconds = Number(process.env.BENCH_RETENTION_SECONDS ?? 120);
const usage = { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500 };
const goal = 'Look up the latest release notes of the three services and list what changed in each. '.repeat(
  2,
);
const summary = 'The three services changed as follows: the first one got a new cache, the second… '.repeat(
  3,
);

async function usedMemory(redis: Redis): Promise<number> {
  return (await memoryInfo(redis)).used_memory ?? Number.NaN;
}

/** INFO memory's byte counts that say where used_memory goes. */
async function memoryInfo(redis: Redis): Promise<Record<string, number>> {
  const wanted =
    /^(used_memory|used_memory_overhead|used_memory_dataset|used_memory_scripts|mem_clients_normal):(\d+)/;
  const found: Record<string, number> = {};
  for (const line of (await redis.info('memory')).split('\r\n')) {
    const match = wanted.exec(line);
    if (match) found[match[1]!] = Number(match[2]);
  }
  return found;
}

function originOf(batch: number): TaskOrigin {
  return {
    platform: 'bench',
    channel: `c${batch % channels}`,
    thread: `th${batch % sessions}`,
    user: 'u1',
    userName: 'Bench',
  };
}

async function runBatch(store: TaskStore, threads: KnownThreads, batch: number): Promise<void> {
  const origin = originOf(batch);
  const sessionKey = `${origin.platform}:${origin.channel}:${origin.thread}`;
  await threads.touch(sessionKey);
  const { records } = await store.admit({
    sessionKey,
    origin,
    parent: null,
    tasks: Array.from({ length: batchSize }, () => ({
      goal,
      context: '',
      toolsets: [],
      route: 'default',
      role: 'leaf' as const,
    })),
    maxActiveTasksPerConversation: batchSize * parallelBatches,
  });
  await Promise.all(
    records.map(async (record: TaskRecord) => {
      const token = `bench-${record.id}`;
      await store.claim(record.id, token);
      await store.complete(record, token, {
        inboxCursor: '0-0',
        summary,
        fullText: summary,
        steps: 1,
        usage,
      });
    }),
  );
}

/** Runs a full cycle on a throw-away prefix with a 1 s retention, so the scripts are loaded before the baseline. */
async function warmUp(redis: Redis): Promise<void> {
  const keys = new RedisKeys(benchPrefix('retention-warm-up'));
  const store = new TaskStore({ redis, keys, maxEventsPerTask: 50, retentionSeconds: 1 });
  const threads = new KnownThreads(redis, keys);
  for (let batch = 0; batch < 4; batch += 1) await runBatch(store, threads, batch);
  await sleep(1500);
  await new RetentionSweeper({ redis, keys, retentionSeconds: 1, logger: createSilentLogger() }).sweepOnce();
  // What stays is the sweeper's one-off marker (see RetentionSweeper.backfill).
  await waitFor(
    async () => {
      const [, left] = await redis.scan('0', 'MATCH', `${keys.prefix}:*`, 'COUNT', 100_000);
      return left.every((key) => key === keys.retentionBackfillDone()) ? true : undefined;
    },
    60_000,
    'the warm-up keys to expire',
    250,
  );
}

export async function benchRetention(context: BenchContext): Promise<BenchResult[]> {
  const redis = createRedisConnection(context.redisUrl, { connectionName: 'bench-retention' });
  try {
    await warmUp(redis);
    const keys = new RedisKeys(benchPrefix('retention'));
    const store = new TaskStore({ redis, keys, maxEventsPerTask: 50, retentionSeconds });
    const threads = new KnownThreads(redis, keys);
    const sweeper = new RetentionSweeper({ redis, keys, retentionSeconds, logger: createSilentLogger() });
    // The first sweep leaves its one-off marker (see RetentionSweeper.backfill): part of the baseline.
    await sweeper.sweepOnce();
    await sleep(1000);
    const baselineInfo = await memoryInfo(redis);
    const baselineMemory = baselineInfo.used_memory ?? Number.NaN;
    const baselineKeys = await redis.dbsize();
    context.log(`baseline: used_memory ${baselineMemory} B, ${baselineKeys} keys`);

    const started = performance.now();
    let peakMemory = baselineMemory;
    const batches = taskCount / batchSize;
    for (let first = 0; first < batches; first += parallelBatches) {
      const group = Array.from(
        { length: Math.min(parallelBatches, batches - first) },
        (_unused, index) => first + index,
      );
      await Promise.all(group.map((batch) => runBatch(store, threads, batch)));
      if ((first / parallelBatches) % 10 === 0) peakMemory = Math.max(peakMemory, await usedMemory(redis));
    }
    const lastEnd = Date.now();
    const createSeconds = (performance.now() - started) / 1000;
    peakMemory = Math.max(peakMemory, await usedMemory(redis));
    const peakKeys = await redis.dbsize();
    // Tasks whose record has not expired yet (on a loaded machine, the first ones may have).
    const retainedAtPeak = await redis.zcount(keys.taskExpirySchedule(), Date.now(), '+inf');
    context.log(
      `${taskCount} tasks created and completed in ${round(createSeconds, 1)} s; peak used_memory ` +
        `${peakMemory} B, ${peakKeys} keys`,
    );

    // Past the retention period of the last task, then sweeps as the sweeper's timer would run them.
    await sleep(Math.max(0, lastEnd + retentionSeconds * 1000 + 1000 - Date.now()));
    const sweepStarted = performance.now();
    let unindexed = 0;
    let threadsForgotten = 0;
    while ((await redis.exists(keys.taskExpirySchedule(), keys.allTasks(), keys.knownThreads())) > 0) {
      const report = await sweeper.sweepOnce();
      unindexed += report?.tasksUnindexed ?? 0;
      threadsForgotten += report?.threadsForgotten ?? 0;
      if ((report?.tasksUnindexed ?? 0) === 0) await sleep(500);
    }
    const sweepMs = performance.now() - sweepStarted;
    // Redis reclaims the expired events, summaries and inboxes in its background expiry cycle.
    const reclaimStarted = performance.now();
    const afterKeys = await waitFor(
      async () => {
        const count = await redis.dbsize();
        return count <= baselineKeys ? count : undefined;
      },
      240_000,
      'the key count to return to its baseline',
      500,
    );
    const reclaimSeconds = (performance.now() - reclaimStarted) / 1000;
    // Redis shrinks its emptied key tables in its background cron, a step at a time.
    await sleep(5000);
    const afterInfo = await memoryInfo(redis);
    const afterMemory = afterInfo.used_memory ?? Number.NaN;
    context.log(
      `INFO memory at baseline ${JSON.stringify(baselineInfo)}, after ${JSON.stringify(afterInfo)}`,
    );
    context.log(
      `after retention: used_memory ${afterMemory} B, ${afterKeys} keys; sweeps ${round(sweepMs)} ms ` +
        `(${unindexed} tasks unindexed, ${threadsForgotten} threads forgotten)`,
    );

    const how =
      `${taskCount} tasks (batches of ${batchSize}, ${parallelBatches} in flight; ${sessions} sessions in ${channels} ` +
      `channels, each thread touched in the threads index) admitted, claimed and completed through TaskStore (no ` +
      `model, no queue) in ${round(createSeconds, 1)} s, retention ${retentionSeconds} s (redis.retention_days ` +
      `${round(retentionSeconds / 86400, 6)}); INFO used_memory and DBSIZE of the benchmark's redis-server`;
    return [
      figure('redis_memory_baseline_bytes', baselineMemory, 'bytes', {
        notes: `${how}; before the tasks, after a warm-up cycle on another prefix (scripts loaded)`,
      }),
      figure('redis_memory_peak_bytes', peakMemory, 'bytes', {
        notes: `${how}; largest used_memory sampled while creating and right after (${retainedAtPeak} of the ${taskCount} tasks still retained then)`,
      }),
      figure('redis_memory_after_retention_bytes', afterMemory, 'bytes', {
        notes:
          `${how}; after the retention period, the sweeps (${round(sweepMs)} ms in all: ${unindexed} tasks removed ` +
          `from the session, channel and global indexes, ${threadsForgotten} idle threads forgotten) and Redis's own ` +
          `expiry of the records' keys (key count back at its baseline ${round(reclaimSeconds, 1)} s after the sweeps), ` +
          `then 5 s; INFO memory at the baseline ${JSON.stringify(baselineInfo)}, after ${JSON.stringify(afterInfo)}: ` +
          'what is left over is in no key (the key count is at its baseline) and does not grow with the task count',
      }),
      figure(
        'redis_memory_reclaimed_ratio',
        (peakMemory - afterMemory) / (peakMemory - baselineMemory),
        'ratio',
        {
          atLeast: 0.99,
          decimals: 5,
          notes:
            '(peak − after) / (peak − baseline) of used_memory: the share of what the tasks added that was given back',
        },
      ),
      figure('redis_bytes_per_finished_task', (peakMemory - baselineMemory) / retainedAtPeak, 'bytes', {
        decimals: 0,
        notes:
          `(peak − baseline) / ${retainedAtPeak} tasks retained at the peak: a finished task's record, event stream, index entries and expiry ` +
          'schedule entry while it is retained',
      }),
      figure('redis_keys_baseline', baselineKeys, 'keys', { notes: how }),
      figure('redis_keys_peak', peakKeys, 'keys', { notes: how }),
      figure('redis_keys_after_retention', afterKeys, 'keys', { atMost: baselineKeys, notes: how }),
    ];
  } finally {
    redis.disconnect();
  }
}
