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
const childCount = 1200;
const batchSize = 100;

interface Trial {
  workers: number;
  elapsedMs: number;
  perSecond: number;
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
    let allEnded: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      allEnded = resolve;
    });
    // The prefix is this trial's own, so every `ended` signal is one of its children.
    const unsubscribe = dispatcher.signals.onAny((signal) => {
      if (signal.kind !== 'ended') return;
      ended += 1;
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
    return { workers, elapsedMs, perSecond: (childCount * 1000) / elapsedMs };
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
    context.log(
      `1 worker: ${childCount} children in ${one.elapsedMs.toFixed(0)} ms = ${one.perSecond.toFixed(1)}/s`,
    );
    const three = await trial(context, fake.baseURL, 3);
    context.log(
      `3 workers: ${childCount} children in ${three.elapsedMs.toFixed(0)} ms = ${three.perSecond.toFixed(1)}/s`,
    );
    const ratio = three.perSecond / one.perSecond;
    const setUp =
      `${childCount} one-step children dispatched in batches of ${batchSize} from the benchmark process, run by ` +
      `1, then 3 \`baton worker\` processes (worker.concurrency ${concurrency} each) on one Redis; each child's ` +
      `one model call takes ${modelLatencyMs} ms (the fake model in its own process); timed from the first ` +
      `dispatch to the last \`ended\` signal (ceiling: ${(concurrency * 1000) / modelLatencyMs}/s per worker)`;
    return [
      figure('scale_out_children_per_s_1_worker', one.perSecond, 'children/s', { decimals: 1, notes: setUp }),
      figure('scale_out_children_per_s_3_workers', three.perSecond, 'children/s', {
        decimals: 1,
        notes: setUp,
      }),
      figure('scale_out_ratio_3_vs_1', ratio, 'x', {
        atLeast: 2.7,
        decimals: 2,
        notes: `${setUp}; ${round(one.perSecond, 1)}/s with 1 worker, ${round(three.perSecond, 1)}/s with 3`,
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
