/**
 * `baton worker` (src/cli/run-commands.ts runWorker, same config loading, runtime and shutdown) plus an
 * event-loop delay probe, for the benchmarks that must see the worker process's own figures.
 *
 *   REDIS_URL=… BATON_CONFIG=… node --import tsx bench/worker-with-probe.ts
 *
 * stdout gets JSON lines: `{"event":"ready",…}` once the worker runs; stdin lines `reset` (clear the
 * histogram, answers `{"event":"reset"}`), `gc` (a full garbage collection when node runs with --expose-gc,
 * answers `{"event":"gc"}`) and `sample` (answers `{"event":"sample",…}`, with the locks
 * the worker lost since it started: `lockRenewalFailures`, `failedJobs`).
 *
 * `monitorEventLoopDelay` records the interval between its timer ticks, so an idle loop reads about
 * `resolution` ms; the lag is that value minus the resolution.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { onShutdownSignal } from '../src/cli/shutdown.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { BatonError } from '../src/errors.ts';
import { createLogger } from '../src/logging/logger.ts';
import { BatonRuntime } from '../src/runtime/baton-runtime.ts';

const resolutionMs = 10;
const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
histogram.enable();

const config = loadConfig();
const logger = createLogger({ level: config.log.level });
if (!config.redis.url) throw new BatonError('config_invalid', 'the probe worker needs REDIS_URL');
const runtime = new BatonRuntime({ config, redisUrl: config.redis.url, logger });
await runtime.start();
const worker = await runtime.startWorker();
// Locks this worker lost: a renewal that came too late, or a job that then failed.
let lockRenewalFailures = 0;
let failedJobs = 0;
worker.worker.on('lockRenewalFailed', (jobIds: string[]) => {
  lockRenewalFailures += jobIds.length;
});
worker.worker.on('failed', () => {
  failedJobs += 1;
});
onShutdownSignal(logger, { stop: () => runtime.close(), deadlineMs: config.ops.shutdown_timeout_s * 1000 });
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (stopping = true));

const write = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
const ms = (nanoseconds: number) => nanoseconds / 1e6;

write({ event: 'ready', pid: process.pid, workerId: worker.id, concurrency: config.worker.concurrency });

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const command = line.trim();
    if (command === 'gc') {
      // Only with node --expose-gc (startProbeWorker's `exposeGc`): a full collection, so that a memory
      // sample after it counts what is kept, not garbage not yet collected.
      (globalThis as { gc?: () => void }).gc?.();
      write({ event: 'gc', collected: typeof (globalThis as { gc?: unknown }).gc === 'function' });
    } else if (command === 'reset') {
      histogram.reset();
      write({ event: 'reset' });
    } else if (command === 'sample') {
      write({
        event: 'sample',
        resolutionMs,
        count: histogram.count,
        rawP50Ms: ms(histogram.percentile(50)),
        rawP99Ms: ms(histogram.percentile(99)),
        rawMaxMs: ms(histogram.max),
        lagP50Ms: Math.max(0, ms(histogram.percentile(50)) - resolutionMs),
        lagP99Ms: Math.max(0, ms(histogram.percentile(99)) - resolutionMs),
        lagMaxMs: Math.max(0, ms(histogram.max) - resolutionMs),
        rssMb: process.memoryUsage().rss / 1024 / 1024,
        heapUsedMb: process.memoryUsage().heapUsed / 1024 / 1024,
        heapTotalMb: process.memoryUsage().heapTotal / 1024 / 1024,
        externalMb: process.memoryUsage().external / 1024 / 1024,
        lockRenewalFailures,
        failedJobs,
      });
    }
  })
  // stdin closes when the benchmark process is gone: shut down like on SIGTERM.
  .on('close', () => {
    if (!stopping) process.kill(process.pid, 'SIGTERM');
  });
