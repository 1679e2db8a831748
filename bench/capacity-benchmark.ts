/**
 * One worker process holding 1,000 concurrent children, each waiting on a slow model call: the worker's
 * resident memory and its event-loop lag while it holds them.
 */
import { startFakeModelProcess, startProbeWorker } from './processes.ts';
import {
  type BenchContext,
  type BenchResult,
  benchLayer,
  CleanupStack,
  figure,
  parentCaller,
  readRssMb,
  round,
  sleep,
  startRuntime,
  waitFor,
  writeConfigFile,
} from './support.ts';

const childCount = 1000;
/** Each model call takes this long, far longer than ramp-up plus the measuring window. */
const modelLatencyMs = 20_000;
const holdWindowMs = 5000;

export async function benchThousandChildren(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const fake = await startFakeModelProcess(modelLatencyMs);
    cleanup.add('stop fake model process', () => fake.process.stop());
    const layer = benchLayer('capacity', fake.baseURL, {
      worker: { concurrency: childCount, shutdown_grace_s: 1 },
      log: { level: 'warn' },
    });
    const configFile = writeConfigFile(cleanup, layer, 'capacity');
    const worker = await startProbeWorker(cleanup, context.redisUrl, configFile);

    const parent = await startRuntime(cleanup, context.redisUrl, layer, 'dispatcher');
    await sleep(500);
    const idleRssMb = readRssMb(worker.process.pid);

    await worker.reset();
    const started = performance.now();
    const ids: string[] = [];
    for (let start = 0; start < childCount; start += 100) {
      const records = await parent.service.dispatch(
        parentCaller('bench:capacity:th1'),
        Array.from({ length: 100 }, (_unused, index) => ({ goal: `capacity child ${start + index}` })),
      );
      for (const record of records) ids.push(record.id);
    }
    await waitFor(
      async () => ((await fake.stats()).received >= childCount ? true : undefined),
      60_000,
      `${childCount} model requests in flight`,
      100,
    );
    const rampMs = performance.now() - started;
    const running = (await parent.store.getMany(ids)).filter((record) => record?.status === 'running').length;
    if (running !== childCount) throw new Error(`${running} of ${childCount} children are running`);
    const ramp = await worker.sample();
    context.log(
      `1000 children: all running and waiting on the model after ${rampMs.toFixed(0)} ms ` +
        `(loop lag p99 during ramp-up ${ramp.lagP99Ms.toFixed(2)} ms, max ${ramp.lagMaxMs.toFixed(2)} ms)`,
    );

    // The window: all 1,000 held; VmRSS read from /proc every 250 ms, loop lag from the probe.
    await worker.reset();
    const rssSamples: number[] = [];
    const windowEnd = Date.now() + holdWindowMs;
    while (Date.now() < windowEnd) {
      rssSamples.push(readRssMb(worker.process.pid));
      await sleep(250);
    }
    const held = await worker.sample();
    const after = await fake.stats();
    if (after.received !== childCount || after.answered !== 0 || after.aborted !== 0) {
      throw new Error(`the children did not all wait through the window: ${JSON.stringify(after)}`);
    }
    const rssMb = Math.max(...rssSamples);
    const peakRssMb = readRssMb(worker.process.pid, 'VmHWM');
    context.log(
      `1000 children held ${holdWindowMs} ms: VmRSS max ${rssMb.toFixed(1)} MB (idle ${idleRssMb.toFixed(1)} MB, ` +
        `peak ${peakRssMb.toFixed(1)} MB), loop lag p50 ${held.lagP50Ms.toFixed(2)} / p99 ` +
        `${held.lagP99Ms.toFixed(2)} / max ${held.lagMaxMs.toFixed(2)} ms`,
    );
    const setUp =
      `one worker process (bench/worker-with-probe.ts = baton worker + probe, worker.concurrency ${childCount}) ` +
      `holding ${childCount} children, each waiting on a ${modelLatencyMs / 1000} s model call to the fake model ` +
      `in its own process; all ${childCount} in flight ${round(rampMs, 0)} ms after the first dispatch`;
    return [
      figure('children_1000_rss_mb', rssMb, 'MB', {
        atMost: 300,
        decimals: 1,
        notes:
          `${setUp}; largest VmRSS (/proc/<pid>/status) over a ${holdWindowMs / 1000} s window with all held; ` +
          `idle worker ${round(idleRssMb, 1)} MB, VmHWM ${round(peakRssMb, 1)} MB, V8 heap used ` +
          `${round(held.heapUsedMb, 1)} MB`,
      }),
      figure('children_1000_loop_lag_p99_ms', held.lagP99Ms, 'ms', {
        atMost: 50,
        notes:
          `${setUp}; monitorEventLoopDelay({resolution: 10}) in the worker over the ${holdWindowMs / 1000} s ` +
          `window (p99 of the tick interval minus 10 ms): p50 ${round(held.lagP50Ms, 2)} ms, max ` +
          `${round(held.lagMaxMs, 2)} ms; during ramp-up (dispatch to all in flight) p99 ` +
          `${round(ramp.lagP99Ms, 2)} ms, max ${round(ramp.lagMaxMs, 2)} ms`,
      }),
    ];
  } finally {
    await cleanup.run();
  }
}
