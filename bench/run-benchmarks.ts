/**
 * `npm run bench`: starts a private, non-persistent redis-server, runs each benchmark once, prints a table,
 * writes bench/results.json and the figures block of bench/README.md. Everything it started is stopped,
 * also on failure; the exit code is non-zero when a benchmark crashed.
 *
 * Only some benchmarks: `npm run bench -- dispatch steer` (names: see `benchmarks` below); such a partial
 * run prints its table but leaves results.json and README.md as they were, unless given `--merge`: then its
 * figures replace those of the same name in results.json and the README's figures block says which. A full run
 * keeps the figures of the benchmarks that have commands of their own (`npm run soak`, `bench:*`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import { benchThousandChildren } from './capacity-benchmark.ts';
import { benchHostilePages } from './hostile-pages-benchmark.ts';
import { benchCancel, benchDispatch, benchSteer } from './latency-benchmarks.ts';
import { benchLockRenewal } from './lock-renewal-benchmark.ts';
import {
  describeMachine,
  type Failure,
  formatTable,
  mergedResults,
  updateReadme,
  writeResultsJson,
} from './report.ts';
import { benchRetention } from './retention-benchmark.ts';
import { benchScaleOut } from './scale-out-benchmark.ts';
import { type BenchContext, type BenchResult, CleanupStack, withTimeout } from './support.ts';
import { benchThroughput } from './throughput-benchmark.ts';

const benchmarks: Array<{
  name: string;
  run: (context: BenchContext) => Promise<BenchResult[]>;
  limitMs: number;
}> = [
  { name: 'dispatch', run: benchDispatch, limitMs: 90_000 },
  { name: 'steer', run: benchSteer, limitMs: 90_000 },
  { name: 'cancel', run: benchCancel, limitMs: 120_000 },
  { name: 'throughput', run: benchThroughput, limitMs: 180_000 },
  { name: 'children_1000', run: benchThousandChildren, limitMs: 180_000 },
  { name: 'retention', run: benchRetention, limitMs: 600_000 },
  { name: 'lock_renewal', run: benchLockRenewal, limitMs: 150_000 },
  { name: 'hostile_pages', run: benchHostilePages, limitMs: 240_000 },
  { name: 'scale_out', run: benchScaleOut, limitMs: 420_000 },
];

const log = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const merge = process.argv.includes('--merge');
  const only = process.argv.slice(2).filter((argument) => argument !== '--merge');
  const unknown = only.filter((name) => !benchmarks.some((benchmark) => benchmark.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark(s): ${unknown.join(', ')}\n`);
    return 2;
  }
  const selected =
    only.length > 0 ? benchmarks.filter((benchmark) => only.includes(benchmark.name)) : benchmarks;

  const loadAtStart = os.loadavg()[0]!;
  const cleanup = new CleanupStack();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`bench: ${signal}, stopping everything\n`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: BenchResult[] = [];
  const failures: Failure[] = [];
  try {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-redis-'));
    cleanup.add('remove redis directory', () => rmSync(directory, { recursive: true, force: true }));
    const redis = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
    cleanup.add('stop redis-server', () => redis.stop());
    log(
      `bench: redis-server on ${redis.url} (pid ${redis.pid}), ${os.availableParallelism()} CPU(s), ` +
        `Node ${process.version}, load average ${loadAtStart.toFixed(2)}`,
    );
    const context: BenchContext = {
      redisUrl: redis.url,
      redisPid: redis.pid,
      log: (line) => log(`  ${line}`),
    };

    for (const benchmark of selected) {
      log(`bench: ${benchmark.name} …`);
      const started = performance.now();
      try {
        const figures = await withTimeout(benchmark.run(context), benchmark.limitMs, benchmark.name);
        results.push(...figures);
        log(`bench: ${benchmark.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push({ benchmark: benchmark.name, error: message });
        process.stderr.write(`bench: ${benchmark.name} CRASHED: ${message}\n`);
      }
    }
  } catch (error) {
    failures.push({
      benchmark: 'set-up',
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    process.stderr.write(`bench: set-up failed: ${String(error)}\n`);
  } finally {
    await cleanup.run();
  }

  log('');
  log(formatTable(results));
  log('');
  if (only.length > 0 && merge && failures.length === 0) {
    const merged = mergedResults(results);
    log(`results (merged): ${writeResultsJson(merged)}`);
    const remeasured = results.map((result) => result.name);
    log(`readme:  ${updateReadme(merged, failures, describeMachine(loadAtStart), remeasured)}`);
  } else if (only.length > 0) {
    log('partial run: bench/results.json and bench/README.md are left as they were');
  } else {
    // The figures of the benchmarks with commands of their own (soak, bench:streaming, …) are kept as they were.
    const merged = mergedResults(results);
    const measured = new Set(results.map((result) => result.name));
    const standalone = merged.map((result) => result.name).filter((name) => !measured.has(name));
    log(`results: ${writeResultsJson(merged)}`);
    log(`readme:  ${updateReadme(merged, failures, describeMachine(loadAtStart), null, standalone)}`);
  }
  if (failures.length > 0) {
    process.stderr.write(
      `bench: ${failures.length} benchmark(s) crashed: ${failures.map((f) => f.benchmark).join(', ')}\n`,
    );
    return 1;
  }
  return 0;
}

// Exit explicitly: a benchmark that timed out may still hold handles; the exit hook SIGKILLs its processes.
process.exit(await main());
