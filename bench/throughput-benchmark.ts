/**
 * Throughput of one-step children against raw BullMQ no-op jobs, on the same Redis, with the same
 * concurrency, job count and batching, measured in the same run, alternating trials. The children run
 * twice over: with an in-process model (a ModelClient that answers at once, no HTTP: what
 * `throughput_ratio_vs_bullmq` uses, since it measures Baton's own bookkeeping) and with the fake model
 * in its own process behind the real openai client (`children_per_s`, and its own ratio). Also records
 * where the CPU went (this process, redis-server, the fake model process) and how many Redis commands
 * each job cost.
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

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
const batchSize = 50;
const jobCount = 4000;
const warmUpCount = 500;
/** Alternating trials of each; the figures are the medians. */
const trials = 5;
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

/**
 * Times one run of `jobCount` jobs (dispatch to last end) and what it cost; the runner's check of the
 * outcome comes after the timed window.
 */
async function measure(context: BenchContext, admin: Redis, runner: Runner): Promise<Measured> {
  const fakePid = runner.fakePid;
  const commandsBefore = await commandsProcessed(admin);
  const benchBefore = process.cpuUsage();
  const redisBefore = processCpuMs(context.redisPid);
  const fakeBefore = fakePid === null ? 0 : processCpuMs(fakePid);
  const started = performance.now();
  await runner.run(jobCount);
  const elapsedMs = performance.now() - started;
  const bench = process.cpuUsage(benchBefore);
  const cpuMs = {
    bench: (bench.user + bench.system) / 1000,
    redis: processCpuMs(context.redisPid) - redisBefore,
    fake: fakePid === null ? 0 : processCpuMs(fakePid) - fakeBefore,
  };
  // The INFO call itself is one command; negligible against thousands.
  const commandsPerJob = ((await commandsProcessed(admin)) - commandsBefore) / jobCount;
  await runner.verifyLastRun();
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
  /** Checks the outcome of the last run (outside the timed window): throws unless every job succeeded. */
  verifyLastRun(): Promise<void>;
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
  // Every `completed` event is one of this queue's jobs; failures are logged as they happen.
  return { run, verifyLastRun: async () => undefined, fakePid: null };
}

/** The model port's scripted fake: answers every call at once with a final text, without HTTP. */
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
  let lastIds: string[] = [];
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
    lastIds = ids;
    await withTimeout(finished, 120_000, 'one-step children');
  };
  const verifyLastRun = async () => {
    const statuses = (await runtime.store.getMany(lastIds)).map((record) => record?.status);
    const completed = statuses.filter((status) => status === 'completed').length;
    if (completed !== lastIds.length) throw new Error(`${completed} of ${lastIds.length} children completed`);
  };
  await run(warmUpCount);
  await verifyLastRun();
  return { run, verifyLastRun, fakePid: model.kind === 'http' ? model.fakePid : null };
}

/** The trial with the median rate. */
function median(trials: Measured[]): Measured {
  return [...trials].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(trials.length / 2)]!;
}

function medianOf(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

export async function benchThroughput(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const admin = createRedisConnection(context.redisUrl, { connectionName: 'bench-admin' });
    cleanup.add('disconnect admin connection', () => admin.disconnect());

    // The three queues live side by side and their trials alternate, so drifts of a shared, noisy
    // machine hit all alike.
    const bullmqRunner = await bullmqNoop(context, cleanup);
    const fake = await startFakeModelProcess(0);
    cleanup.add('stop fake model process', () => fake.process.stop());
    const inMemoryRunner = await batonChildren(context, cleanup, { kind: 'in-memory' });
    const httpRunner = await batonChildren(context, cleanup, {
      kind: 'http',
      baseURL: fake.baseURL,
      fakePid: fake.process.pid,
    });
    const bullmqTrials: Measured[] = [];
    const inMemoryTrials: Measured[] = [];
    const httpTrials: Measured[] = [];
    for (let trial = 1; trial <= trials; trial += 1) {
      const bullmqTrial = await measure(context, admin, bullmqRunner);
      context.log(describeMeasured(`trial ${trial}: bullmq no-op jobs`, bullmqTrial));
      bullmqTrials.push(bullmqTrial);
      const inMemoryTrial = await measure(context, admin, inMemoryRunner);
      context.log(describeMeasured(`trial ${trial}: baton children, in-process model`, inMemoryTrial));
      inMemoryTrials.push(inMemoryTrial);
      const httpTrial = await measure(context, admin, httpRunner);
      context.log(describeMeasured(`trial ${trial}: baton children, HTTP fake model`, httpTrial));
      httpTrials.push(httpTrial);
    }
    const bullmq = median(bullmqTrials);
    const inMemory = median(inMemoryTrials);
    const http = median(httpTrials);
    // A ratio per pair of trials (the children's trial against the BullMQ trial just before it), so that a
    // change of machine load between pairs cancels out; the figure is the median pair. The ratio of the
    // two medians is in the notes too.
    const pairRatios = (children: Measured[]) =>
      children.map((trial, index) => trial.perSecond / bullmqTrials[index]!.perSecond);
    const inMemoryRatios = pairRatios(inMemoryTrials);
    const httpRatios = pairRatios(httpTrials);
    const listed = (values: number[], digits: number) =>
      values.map((value) => value.toFixed(digits)).join(', ');
    const rates = (list: Measured[]) =>
      listed(
        list.map((trial) => trial.perSecond),
        0,
      );
    const trialRates =
      `trials: bullmq ${rates(bullmqTrials)}/s, children (in-process model) ${rates(inMemoryTrials)}/s, ` +
      `children (HTTP fake model) ${rates(httpTrials)}/s`;

    const setUp =
      `median of ${trials} trials alternating with the other queues, ` +
      `${jobCount} jobs each after ${warmUpCount} warm-up, dispatched in sequential batches of ${batchSize}, ` +
      `worker concurrency ${concurrency}, timed from the first dispatch to the last end`;
    const sharedProcess =
      'dispatcher (TaskService.dispatch) and child worker share this process (one BatonRuntime)';
    const cost = (measured: Measured) =>
      `CPU this process ${measured.cpuMs.bench.toFixed(0)} ms, redis-server ${measured.cpuMs.redis.toFixed(0)} ms` +
      `${measured.cpuMs.fake > 0 ? `, fake model ${measured.cpuMs.fake.toFixed(0)} ms` : ''}; ` +
      `${measured.commandsPerJob.toFixed(1)} Redis commands per job (INFO total_commands_processed, Lua-internal included)`;
    return [
      figure('throughput_ratio_vs_bullmq', medianOf(inMemoryRatios), 'ratio', {
        atLeast: 0.7,
        notes:
          "one-step children per second with the in-process model / BullMQ no-op jobs per second: Baton's own " +
          `cost per child against BullMQ's per job, the model call being free; median of the ${trials} ` +
          `pairs of trials (${listed(inMemoryRatios, 3)}); the ratio of the medians ` +
          `(children_per_s_in_memory_model / bullmq_noop_jobs_per_s) is ` +
          `${round(inMemory.perSecond / bullmq.perSecond, 3)}; with the HTTP fake model see ` +
          `throughput_ratio_vs_bullmq_http_model; ${trialRates}`,
      }),
      figure('throughput_ratio_vs_bullmq_http_model', medianOf(httpRatios), 'ratio', {
        notes:
          'no goal: one-step children per second with the HTTP fake model / BullMQ no-op jobs per second; each ' +
          'child also pays a real HTTP round trip through the openai client to the fake model process, which ' +
          `costs more CPU than a whole BullMQ job; median of the ${trials} pairs of trials ` +
          `(${listed(httpRatios, 3)}); the ratio of the medians (children_per_s / bullmq_noop_jobs_per_s) is ` +
          `${round(http.perSecond / bullmq.perSecond, 3)}; ${trialRates}`,
      }),
      figure('children_per_s_in_memory_model', inMemory.perSecond, 'children/s', {
        decimals: 1,
        notes:
          'one-step children with BatonRuntime({model}) given an in-process ModelClient that answers at once ' +
          `with a final text (no HTTP, no fake process); ${sharedProcess}; ${setUp}; ` +
          `${inMemory.elapsedMs.toFixed(1)} ms; ${cost(inMemory)}`,
      }),
      figure('children_per_s', http.perSecond, 'children/s', {
        decimals: 1,
        notes:
          'one-step children (one model call, answered at once with a final text by the fake model in its own ' +
          `process, through the real openai client); ${sharedProcess}; ${setUp}; ` +
          `${http.elapsedMs.toFixed(1)} ms; ${cost(http)}`,
      }),
      figure('bullmq_noop_jobs_per_s', bullmq.perSecond, 'jobs/s', {
        decimals: 1,
        notes:
          "plain bullmq Queue.addBulk (the Queue object of Baton's TaskQueue, so the same job options) + Worker " +
          "with a no-op processor, in this process, same Redis, with Baton's worker lock/stall settings; " +
          `${setUp}; ${bullmq.elapsedMs.toFixed(1)} ms; ${cost(bullmq)}`,
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
