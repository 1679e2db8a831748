/**
 * Throughput of one-step children against raw BullMQ no-op jobs, on the same Redis, with the same
 * concurrency, job count and batching, measured in the same run.
 */
import { Worker } from 'bullmq';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { childQueueName, TaskQueue } from '../src/tasks/task-queue.ts';
import { startFakeModelProcess } from './processes.ts';
import {
  type BenchContext,
  type BenchResult,
  benchLayer,
  benchPrefix,
  buildBenchConfig,
  CleanupStack,
  figure,
  parentCaller,
  round,
  startRuntime,
  withTimeout,
} from './support.ts';

const concurrency = 50;
const batchSize = 50;
const jobCount = 2000;
const warmUpCount = 200;

/** A counter that resolves once it reaches a target. */
class Countdown {
  private count = 0;
  private target = Number.POSITIVE_INFINITY;
  private resolve: () => void = () => undefined;

  arm(target: number): Promise<void> {
    this.count = 0;
    this.target = target;
    return new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  tick(): void {
    this.count += 1;
    if (this.count === this.target) this.resolve();
  }
}

/** Raw BullMQ: a Queue and a Worker with a no-op processor, job options as Baton's own child queue. */
async function bullmqNoopRate(context: BenchContext, cleanup: CleanupStack, workerOptions: object) {
  const prefix = benchPrefix('bullmq');
  const queueConnection = createRedisConnection(context.redisUrl, { connectionName: 'bench-bullmq-queue' });
  const workerConnection = createRedisConnection(context.redisUrl, { connectionName: 'bench-bullmq-worker' });
  cleanup.add('disconnect BullMQ connections', () => {
    queueConnection.disconnect();
    workerConnection.disconnect();
  });
  // Baton's TaskQueue holds a plain bullmq Queue; use it directly so the job options are the same.
  const taskQueue = new TaskQueue(queueConnection, prefix);
  cleanup.add('close BullMQ queue', () => taskQueue.close());
  const queue = taskQueue.queue;
  const done = new Countdown();
  const worker = new Worker(childQueueName, async () => undefined, {
    connection: workerConnection,
    prefix,
    concurrency,
    ...workerOptions,
  });
  cleanup.add('close BullMQ worker', () => worker.close(true));
  worker.on('completed', () => done.tick());
  worker.on('failed', (_job, error) => context.log(`bullmq no-op job failed: ${error.message}`));
  await worker.waitUntilReady();

  let jobNumber = 0;
  const run = async (count: number) => {
    const finished = done.arm(count);
    const started = performance.now();
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      await queue.addBulk(
        Array.from({ length: size }, () => {
          jobNumber += 1;
          return { name: 'child', data: { taskId: `j${jobNumber}` }, opts: { jobId: `j${jobNumber}` } };
        }),
      );
    }
    await withTimeout(finished, 120_000, 'BullMQ no-op jobs');
    return performance.now() - started;
  };
  await run(warmUpCount);
  const elapsedMs = await run(jobCount);
  return { perSecond: (jobCount * 1000) / elapsedMs, elapsedMs };
}

/** Baton: one-step children (one model call answered at once) dispatched and run in this process. */
async function batonChildRate(context: BenchContext, cleanup: CleanupStack) {
  const fake = await startFakeModelProcess(0);
  cleanup.add('stop fake model process', () => fake.process.stop());
  const layer = benchLayer('throughput', fake.baseURL, { worker: { concurrency } });
  const runtime = await startRuntime(cleanup, context.redisUrl, layer, 'throughput');
  const ended = new Countdown();
  // The prefix is this benchmark's own, so every `ended` signal is one of its children.
  const unsubscribe = runtime.signals.onAny((signal) => {
    if (signal.kind === 'ended') ended.tick();
  });
  cleanup.add('stop listening', unsubscribe);
  await runtime.startWorker();
  const caller = parentCaller('bench:throughput:th1');

  let childNumber = 0;
  const run = async (count: number) => {
    const finished = ended.arm(count);
    const ids: string[] = [];
    const started = performance.now();
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const records = await runtime.service.dispatch(
        caller,
        Array.from({ length: size }, () => {
          childNumber += 1;
          return { goal: `throughput child ${childNumber}` };
        }),
      );
      for (const record of records) ids.push(record.id);
    }
    await withTimeout(finished, 120_000, 'one-step children');
    const elapsedMs = performance.now() - started;
    const statuses = (await runtime.store.getMany(ids)).map((record) => record?.status);
    const completed = statuses.filter((status) => status === 'completed').length;
    if (completed !== count) throw new Error(`${completed} of ${count} children completed`);
    return elapsedMs;
  };
  await run(warmUpCount);
  const elapsedMs = await run(jobCount);
  return { perSecond: (jobCount * 1000) / elapsedMs, elapsedMs };
}

export async function benchThroughput(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    // Baton's worker options, read from its defaults, are given to the BullMQ worker too.
    const defaults = buildBenchConfig(benchLayer('unused', 'http://127.0.0.1:9/v1')).worker;
    const workerOptions = {
      lockDuration: defaults.lock_duration_ms,
      stalledInterval: defaults.stalled_interval_ms,
      maxStalledCount: defaults.max_stalled_count,
    };
    const bullmq = await bullmqNoopRate(context, cleanup, workerOptions);
    context.log(
      `bullmq no-op: ${jobCount} jobs in ${bullmq.elapsedMs.toFixed(1)} ms = ${bullmq.perSecond.toFixed(0)}/s`,
    );
    await cleanup.run();
    const baton = await batonChildRate(context, cleanup);
    context.log(
      `baton children: ${jobCount} in ${baton.elapsedMs.toFixed(1)} ms = ${baton.perSecond.toFixed(0)}/s`,
    );
    const ratio = baton.perSecond / bullmq.perSecond;
    const setUp =
      `${jobCount} jobs after ${warmUpCount} warm-up, dispatched in sequential batches of ${batchSize}, ` +
      `worker concurrency ${concurrency}, timed from the first dispatch to the last end`;
    return [
      figure('throughput_ratio_vs_bullmq', ratio, 'ratio', {
        atLeast: 0.5,
        notes: `children_per_s / bullmq_noop_jobs_per_s (${round(baton.perSecond, 1)} / ${round(bullmq.perSecond, 1)})`,
      }),
      figure('children_per_s', baton.perSecond, 'children/s', {
        decimals: 1,
        notes:
          `one-step children (one model call, answered at once with a final text by the fake model in its own ` +
          `process); dispatcher (TaskService.dispatch) and child worker share this process (one BatonRuntime); ` +
          `${setUp}; ${baton.elapsedMs.toFixed(1)} ms`,
      }),
      figure('bullmq_noop_jobs_per_s', bullmq.perSecond, 'jobs/s', {
        decimals: 1,
        notes:
          "plain bullmq Queue.addBulk (the Queue object of Baton's TaskQueue, so the same job options) + Worker " +
          "with a no-op processor, in this process, same Redis, with Baton's worker lock/stall settings; " +
          `${setUp}; ${bullmq.elapsedMs.toFixed(1)} ms`,
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
