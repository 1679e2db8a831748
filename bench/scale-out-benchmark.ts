/**
 * Scale-out: children per second with 1 and with 3 `baton worker` processes (concurrency 20 each) on one
 * Redis, every child making one model call that takes 200 ms. One worker can finish at most
 * 20 / 0.2 s = 100 children per second; three, 300. The ratio says how much of that the queue delivers.
 */
import { childEnvironment, startFakeModelProcess, startProcess } from './processes.ts';
import {
  type BenchContext,
  type BenchResult,
  benchEnv,
  benchLayer,
  CleanupStack,
  figure,
  parentCaller,
  round,
  startRuntime,
  withTimeout,
  writeConfigFile,
} from './support.ts';

const concurrency = 20;
const modelLatencyMs = 200;
const childCount = 2400;
const batchSize = 100;

interface Trial {
  workers: number;
  elapsedMs: number;
  /** Over the whole run, first dispatch to last end. */
  perSecond: number;
  /**
   * Between the 10th and the 90th percentile of ends: the steady rate, without the first model call's wait
   * and the last wave's tail, which cost every trial the same fixed time whatever its rate.
   */
  steadyPerSecond: number;
}

/** `workers` worker processes on a prefix of their own; `childCount` children dispatched, timed to the last end. */
async function trial(context: BenchContext, baseURL: string, workers: number): Promise<Trial> {
  const cleanup = new CleanupStack();
  try {
    const layer = benchLayer(`scale-${workers}`, baseURL, { worker: { concurrency, shutdown_grace_s: 1 } });
    const configFile = writeConfigFile(cleanup, layer, `scale-${workers}`);
    const processes = await Promise.all(
      Array.from({ length: workers }, (_unused, index) =>
        startProcess({
          label: `worker ${index + 1} of ${workers}`,
          args: ['bin/baton.js', 'worker'],
          env: childEnvironment({
            ...benchEnv(),
            REDIS_URL: context.redisUrl,
            BATON_CONFIG: configFile,
            LOG_LEVEL: 'info',
            LOG_FORMAT: 'json',
          }),
          isReady: (line) => line.includes('worker ready'),
          readyTimeoutMs: 90_000,
        }),
      ),
    );
    for (const started of processes) cleanup.add(`stop ${started.pid}`, () => started.stop(5000));

    const dispatcher = await startRuntime(
      cleanup,
      context.redisUrl,
      layer,
      `scale-out dispatcher (${workers})`,
    );
    let ended = 0;
    const endedAt: number[] = [];
    let allEnded: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      allEnded = resolve;
    });
    // The prefix is this trial's own, so every `ended` signal is one of its children.
    const unsubscribe = dispatcher.signals.onAny((signal) => {
      if (signal.kind !== 'ended') return;
      ended += 1;
      endedAt.push(performance.now());
      if (ended === childCount) allEnded();
    });
    cleanup.add('stop listening', unsubscribe);

    const startedAt = performance.now();
    const ids: string[] = [];
    for (let start = 0; start < childCount; start += batchSize) {
      const records = await dispatcher.service.dispatch(
        parentCaller(`bench:scale:${workers}`),
        Array.from({ length: batchSize }, (_unused, index) => ({ goal: `scale-out child ${start + index}` })),
      );
      for (const record of records) ids.push(record.id);
    }
    await withTimeout(finished, 180_000, `${childCount} children on ${workers} worker(s)`);
    const elapsedMs = performance.now() - startedAt;
    const completed = (await dispatcher.store.getMany(ids)).filter(
      (record) => record?.status === 'completed',
    ).length;
    if (completed !== childCount) throw new Error(`${completed} of ${childCount} children completed`);
    const first = Math.floor(childCount * 0.1);
    const last = Math.floor(childCount * 0.9);
    const steadyPerSecond = ((last - first) * 1000) / (endedAt[last]! - endedAt[first]!);
    return { workers, elapsedMs, perSecond: (childCount * 1000) / elapsedMs, steadyPerSecond };
  } finally {
    await cleanup.run();
  }
}

export async function benchScaleOut(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const fake = await startFakeModelProcess(modelLatencyMs);
    cleanup.add('stop fake model process', () => fake.process.stop());
    const one = await trial(context, fake.baseURL, 1);
    const line = (trial: Trial) =>
      `${childCount} children in ${trial.elapsedMs.toFixed(0)} ms = ${trial.perSecond.toFixed(1)}/s, ` +
      `steady ${trial.steadyPerSecond.toFixed(1)}/s`;
    context.log(`1 worker: ${line(one)}`);
    const three = await trial(context, fake.baseURL, 3);
    context.log(`3 workers: ${line(three)}`);
    const ratio = three.steadyPerSecond / one.steadyPerSecond;
    const wholeRatio = three.perSecond / one.perSecond;
    const setUp =
      `${childCount} one-step children dispatched in batches of ${batchSize} from the benchmark process, run by ` +
      `1, then 3 \`baton worker\` processes (worker.concurrency ${concurrency} each) on one Redis; each child's ` +
      `one model call takes ${modelLatencyMs} ms (the fake model in its own process); timed from the first ` +
      `dispatch to the last \`ended\` signal (ceiling: ${(concurrency * 1000) / modelLatencyMs}/s per worker); the ` +
      'steady rate counts the ends between the 10th and the 90th percentile over the time between them';
    const rates = (trial: Trial) =>
      `steady ${round(trial.steadyPerSecond, 1)}/s; ${round(trial.perSecond, 1)}/s over the whole run ` +
      `(${round(trial.elapsedMs / 1000, 1)} s)`;
    return [
      figure('scale_out_children_per_s_1_worker', one.steadyPerSecond, 'children/s', {
        decimals: 1,
        notes: `${setUp}; ${rates(one)}`,
      }),
      figure('scale_out_children_per_s_3_workers', three.steadyPerSecond, 'children/s', {
        decimals: 1,
        notes: `${setUp}; ${rates(three)}`,
      }),
      figure('scale_out_ratio_3_vs_1', ratio, 'x', {
        atLeast: 2.7,
        decimals: 2,
        notes:
          `${setUp}; steady ${round(one.steadyPerSecond, 1)}/s with 1 worker, ${round(three.steadyPerSecond, 1)}/s ` +
          `with 3; over the whole runs ${round(one.perSecond, 1)}/s and ${round(three.perSecond, 1)}/s, a ratio ` +
          `of ${round(wholeRatio, 2)}`,
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
