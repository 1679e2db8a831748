/**
 * Throughput of one-step children against raw BullMQ no-op jobs, on the same Redis, with the same
 * concurrency, job count and batching, measured in the same run. Also records where the CPU went (this
 * process, redis-server, the fake model process) and how many Redis commands each job cost, and, as a
 * diagnostic, the same children with an in-memory model client (no HTTP) to separate Baton's Redis and
 * BullMQ bookkeeping from the cost of the model call itself.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ModelClient } from '../src/llm/model-client.ts';
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
const jobCount = 4000;
const warmUpCount = 500;
/** Alternating trials of each; the figures are the medians. */
const trials = 3;
/** Linux reports process CPU times in clock ticks of 1/100 s (`getconf CLK_TCK`). */
const clockTickMs = 10;

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

function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * clockTickMs;
}

async function commandsProcessed(redis: Redis): Promise<number> {
  return Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1] ?? Number.NaN);
}

interface Measured {
  elapsedMs: number;
  perSecond: number;
  /** CPU time of this process, redis-server and the fake model process over the run. */
  cpuMs: { bench: number; redis: number; fake: number };
  /** Redis commands processed per job, those run inside Lua scripts included. */
  commandsPerJob: number;
}

/** Times `run` (which dispatches `jobCount` jobs and waits for their ends) and what it cost. */
async function measure(
  context: BenchContext,
  admin: Redis,
  fakePid: number | null,
  run: () => Promise<void>,
): Promise<Measured> {
  const commandsBefore = await commandsProcessed(admin);
  const benchBefore = process.cpuUsage();
  const redisBefore = processCpuMs(context.redisPid);
  const fakeBefore = fakePid === null ? 0 : processCpuMs(fakePid);
  const started = performance.now();
  await run();
  const elapsedMs = performance.now() - started;
  const bench = process.cpuUsage(benchBefore);
  const cpuMs = {
    bench: (bench.user + bench.system) / 1000,
    redis: processCpuMs(context.redisPid) - redisBefore,
    fake: fakePid === null ? 0 : processCpuMs(fakePid) - fakeBefore,
  };
  // The INFO call itself is one command; negligible against thousands.
  const commandsPerJob = ((await commandsProcessed(admin)) - commandsBefore) / jobCount;
  return { elapsedMs, perSecond: (jobCount * 1000) / elapsedMs, cpuMs, commandsPerJob };
}

function describeMeasured(label: string, measured: Measured): string {
  const { cpuMs } = measured;
  const fake = cpuMs.fake > 0 ? `, fake model ${cpuMs.fake.toFixed(0)} ms` : '';
  return (
    `${label}: ${jobCount} in ${measured.elapsedMs.toFixed(1)} ms = ${measured.perSecond.toFixed(0)}/s; CPU: ` +
    `this process ${cpuMs.bench.toFixed(0)} ms, redis-server ${cpuMs.redis.toFixed(0)} ms${fake}; ` +
    `${measured.commandsPerJob.toFixed(1)} Redis commands per job`
  );
}

/** Dispatches `count` jobs and resolves once all have ended. */
interface Runner {
  run(count: number): Promise<void>;
  /** The fake model process, whose CPU counts for this runner. */
  fakePid: number | null;
}

/** Raw BullMQ: a Queue and a Worker with a no-op processor, job options as Baton's own child queue. */
async function bullmqNoop(context: BenchContext, cleanup: CleanupStack): Promise<Runner> {
  const defaults = buildBenchConfig(benchLayer('unused', 'http://127.0.0.1:9/v1')).worker;
  const prefix = benchPrefix('bullmq');
  const queueConnection = createRedisConnection(context.redisUrl, { connectionName: 'bench-bullmq-queue' });
  const workerConnection = createRedisConnection(context.redisUrl, { connectionName: 'bench-bullmq-worker' });
  cleanup.add('disconnect BullMQ connections', () => {
    queueConnection.disconnect();
    workerConnection.disconnect();
  });
  // Baton's TaskQueue holds a plain bullmq Queue; use that Queue directly so the job options are the same.
  const taskQueue = new TaskQueue(queueConnection, prefix);
  cleanup.add('close BullMQ queue', () => taskQueue.close());
  const done = new Countdown();
  const worker = new Worker(childQueueName, async () => undefined, {
    connection: workerConnection,
    prefix,
    concurrency,
    // Baton's worker settings (ChildWorker), from its defaults.
    lockDuration: defaults.lock_duration_ms,
    stalledInterval: defaults.stalled_interval_ms,
    maxStalledCount: defaults.max_stalled_count,
  });
  cleanup.add('close BullMQ worker', () => worker.close(true));
  worker.on('completed', () => done.tick());
  worker.on('failed', (_job, error) => context.log(`bullmq no-op job failed: ${error.message}`));
  await worker.waitUntilReady();

  let jobNumber = 0;
  const run = async (count: number) => {
    const finished = done.arm(count);
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      await taskQueue.queue.addBulk(
        Array.from({ length: size }, () => {
          jobNumber += 1;
          return { name: 'child', data: { taskId: `j${jobNumber}` }, opts: { jobId: `j${jobNumber}` } };
        }),
      );
    }
    await withTimeout(finished, 120_000, 'BullMQ no-op jobs');
  };
  await run(warmUpCount);
  return { run, fakePid: null };
}

/** A model that answers every call at once with a final text, without HTTP. */
const inMemoryModel: ModelClient = {
  async complete() {
    return {
      message: { role: 'assistant', content: 'Done: the in-memory model finished the task.' },
      finish_reason: 'stop',
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      model: 'in-memory',
      latency_ms: 0,
    };
  },
};

/** Baton: one-step children dispatched (TaskService.dispatch) and run by a worker of the same runtime. */
async function batonChildren(
  context: BenchContext,
  cleanup: CleanupStack,
  model: { kind: 'http'; baseURL: string; fakePid: number } | { kind: 'in-memory' },
): Promise<Runner> {
  const baseURL = model.kind === 'http' ? model.baseURL : 'http://127.0.0.1:9/v1';
  const layer = benchLayer('throughput', baseURL, { worker: { concurrency } });
  const runtime = await startRuntime(
    cleanup,
    context.redisUrl,
    layer,
    `throughput (${model.kind})`,
    model.kind === 'in-memory' ? inMemoryModel : undefined,
  );
  const ended = new Countdown();
  // The prefix is this run's own, so every `ended` signal is one of its children.
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
    const statuses = (await runtime.store.getMany(ids)).map((record) => record?.status);
    const completed = statuses.filter((status) => status === 'completed').length;
    if (completed !== count) throw new Error(`${completed} of ${count} children completed`);
  };
  await run(warmUpCount);
  return { run, fakePid: model.kind === 'http' ? model.fakePid : null };
}

/** The trial with the median rate. */
function median(trials: Measured[]): Measured {
  return [...trials].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(trials.length / 2)]!;
}

export async function benchThroughput(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const admin = createRedisConnection(context.redisUrl, { connectionName: 'bench-admin' });
    cleanup.add('disconnect admin connection', () => admin.disconnect());

    // Each phase stops what it started before the next one runs.
    const phase = async <T>(run: (phaseCleanup: CleanupStack) => Promise<T>): Promise<T> => {
      const phaseCleanup = new CleanupStack();
      try {
        return await run(phaseCleanup);
      } finally {
        await phaseCleanup.run();
      }
    };
    // BullMQ and Baton trials alternate, so drifts of a shared, noisy machine hit both alike.
    const bullmqTrials: Measured[] = [];
    const batonTrials: Measured[] = [];
    await phase(async (phaseCleanup) => {
      const bullmqRunner = await bullmqNoop(context, phaseCleanup);
      const fake = await startFakeModelProcess(0);
      phaseCleanup.add('stop fake model process', () => fake.process.stop());
      const batonRunner = await batonChildren(context, phaseCleanup, {
        kind: 'http',
        baseURL: fake.baseURL,
        fakePid: fake.process.pid,
      });
      for (let trial = 1; trial <= trials; trial += 1) {
        const bullmqTrial = await measure(context, admin, null, () => bullmqRunner.run(jobCount));
        context.log(describeMeasured(`trial ${trial}: bullmq no-op jobs`, bullmqTrial));
        bullmqTrials.push(bullmqTrial);
        const batonTrial = await measure(context, admin, batonRunner.fakePid, () =>
          batonRunner.run(jobCount),
        );
        context.log(describeMeasured(`trial ${trial}: baton children`, batonTrial));
        batonTrials.push(batonTrial);
      }
    });
    const inMemory = await phase(async (phaseCleanup) => {
      const runner = await batonChildren(context, phaseCleanup, { kind: 'in-memory' });
      return measure(context, admin, null, () => runner.run(jobCount));
    });
    context.log(describeMeasured('baton children, in-memory model (diagnostic)', inMemory));
    const bullmq = median(bullmqTrials);
    const baton = median(batonTrials);
    const rates = (list: Measured[]) => list.map((trial) => trial.perSecond.toFixed(0)).join(', ');

    const ratio = baton.perSecond / bullmq.perSecond;
    const setUp =
      `median of ${trials} trials alternating with the other queue, ` +
      `${jobCount} jobs each after ${warmUpCount} warm-up, dispatched in sequential batches of ${batchSize}, ` +
      `worker concurrency ${concurrency}, timed from the first dispatch to the last end`;
    const cost = (measured: Measured) =>
      `CPU this process ${measured.cpuMs.bench.toFixed(0)} ms, redis-server ${measured.cpuMs.redis.toFixed(0)} ms` +
      `${measured.cpuMs.fake > 0 ? `, fake model ${measured.cpuMs.fake.toFixed(0)} ms` : ''}; ` +
      `${measured.commandsPerJob.toFixed(1)} Redis commands per job (INFO total_commands_processed, Lua-internal included)`;
    return [
      figure('throughput_ratio_vs_bullmq', ratio, 'ratio', {
        atLeast: 0.5,
        notes:
          `children_per_s / bullmq_noop_jobs_per_s (${round(baton.perSecond, 1)} / ${round(bullmq.perSecond, 1)}); ` +
          `trials: children ${rates(batonTrials)}/s, bullmq ${rates(bullmqTrials)}/s; ` +
          `with an in-memory model (no HTTP) the children would reach ${round(inMemory.perSecond / bullmq.perSecond, 3)}`,
      }),
      figure('children_per_s', baton.perSecond, 'children/s', {
        decimals: 1,
        notes:
          'one-step children (one model call, answered at once with a final text by the fake model in its own ' +
          'process, through the real openai client); dispatcher (TaskService.dispatch) and child worker share ' +
          `this process (one BatonRuntime); ${setUp}; ${baton.elapsedMs.toFixed(1)} ms; ${cost(baton)}`,
      }),
      figure('bullmq_noop_jobs_per_s', bullmq.perSecond, 'jobs/s', {
        decimals: 1,
        notes:
          "plain bullmq Queue.addBulk (the Queue object of Baton's TaskQueue, so the same job options) + Worker " +
          "with a no-op processor, in this process, same Redis, with Baton's worker lock/stall settings; " +
          `${setUp}; ${bullmq.elapsedMs.toFixed(1)} ms; ${cost(bullmq)}`,
      }),
      figure('children_per_s_in_memory_model', inMemory.perSecond, 'children/s', {
        decimals: 1,
        notes:
          'diagnostic, no goal: children_per_s with BatonRuntime({model}) given an in-memory ModelClient that ' +
          `answers at once (no HTTP, no fake process), otherwise as children_per_s but one trial, run after ` +
          `the others; ${inMemory.elapsedMs.toFixed(1)} ms; ` +
          cost(inMemory),
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
