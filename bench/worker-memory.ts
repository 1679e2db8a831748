/**
 * `npm run bench:worker-memory`: does one long-lived `baton worker` keep memory per child it ran? One real
 * worker process (concurrency 20, with bench/memory-probe.ts preloaded and `--expose-gc`) on a private
 * redis-server and the fake model (50–500 ms per call, 2% 429/500, as in the soak), fed children steadily
 * from this process (a backlog of about 200 queued) until `MEMORY_CHILDREN` (20,000) have ended.
 *
 * Every 2 s its RSS is read from /proc; every `MEMORY_GC_EVERY_S` (20 s) the probe runs a full collection
 * and reports the heap used after it. A leak shows as heap-after-GC growing with children processed; RSS
 * that grows while heap-after-GC stays flat is the heap's sizing or the allocator, not retained objects.
 * With `MEMORY_SNAPSHOTS=<dir>` two heap snapshots are written (after warm-up and at the end), to compare
 * with bench/heap-snapshot-diff.ts; writing one swells RSS for a while, so such a run writes no figures.
 * `MEMORY_GC_EVERY_S=0` never forces a collection (RSS only, as the soak sees it); `MEMORY_TRACE_GC=1` prints
 * the worker's full collections (--trace-gc) as they happen. The worker runs with docker-compose.yml's
 * `--max-old-space-size=1024` (README, Memory); `MEMORY_NODE_FLAGS=` (empty) runs it with Node's defaults.
 *
 * Figures go to bench/results.json (`worker_heap_after_gc_growth_ratio`, `worker_rss_growth_ratio`; other
 * figures are kept): each is its level at the end over its level after warm-up (`MEMORY_WARM_UP_S`, 30 s),
 * levels being medians (of the first and last 5 heap samples, of the first and last 20 RSS samples).
 *
 *   MEMORY_CHILDREN=20000 MEMORY_SNAPSHOTS=/tmp/snaps npm run bench:worker-memory
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import { childEnvironment, type ManagedProcess, startProcess, startSoakModelProcess } from './processes.ts';
import { mergeResultsJson } from './report.ts';
import {
  type BenchResult,
  benchActor,
  benchEnv,
  benchLayer,
  CleanupStack,
  figure,
  median,
  readRssMb,
  round,
  sleep,
  soakWorkerSettings,
  startRuntime,
  writeConfigFile,
} from './support.ts';

const childCount = Number(process.env.MEMORY_CHILDREN ?? 20_000);
const gcEveryMs = Number(process.env.MEMORY_GC_EVERY_S ?? 20) * 1000;
const warmUpMs = Number(process.env.MEMORY_WARM_UP_S ?? 30) * 1000;
const snapshotDirectory = process.env.MEMORY_SNAPSHOTS ?? null;
/**
 * Node flags of the worker: docker-compose.yml's heap limit unless `MEMORY_NODE_FLAGS` says otherwise (empty for
 * Node's defaults); named in the figures' notes.
 */
const nodeFlags = (process.env.MEMORY_NODE_FLAGS ?? '--max-old-space-size=1024').split(/\s+/).filter(Boolean);
/** `MEMORY_TRACE_GC=1`: the worker runs with --trace-gc, and its full collections are printed as they come. */
const traceGc = process.env.MEMORY_TRACE_GC === '1';
/** Queued children kept ahead of the worker, so it always has 20 to run and Redis stays small. */
const backlog = 200;
const batchSize = 50;
const rssSampleMs = 2000;
const rssLevelSamples = 20;
const heapLevelSamples = 5;
const log = (line: string) => process.stdout.write(`worker-memory: ${line}\n`);

interface MemoryAnswer {
  event: 'memory';
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  spacesMb: Record<string, number>;
}

async function askProbe<T>(worker: ManagedProcess, line: string, event: string, timeoutMs = 120_000) {
  const answer = worker.nextMessage<T & { event: string }>((message) => message.event === event, timeoutMs);
  worker.send(line);
  return answer;
}

async function main(): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const cleanup = new CleanupStack();
  process.once('SIGINT', () => void cleanup.run().finally(() => process.exit(130)));
  try {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-memory-redis-'));
    cleanup.add('remove redis directory', () => rmSync(directory, { recursive: true, force: true }));
    const redis = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
    cleanup.add('stop redis-server', () => redis.stop());
    const fake = await startSoakModelProcess();
    cleanup.add('stop fake model', () => fake.process.stop());
    const layer = benchLayer('memory', fake.baseURL, {
      ...soakWorkerSettings,
      log: { level: 'warn' },
    });
    const configFile = writeConfigFile(cleanup, layer, 'memory');
    const worker = await startProcess({
      label: 'worker',
      args: [
        '--expose-gc',
        ...nodeFlags,
        ...(traceGc ? ['--trace-gc'] : []),
        '--import',
        'tsx',
        '--import',
        './bench/memory-probe.ts',
        'bin/baton.js',
        'worker',
      ],
      env: childEnvironment({
        ...benchEnv(),
        REDIS_URL: redis.url,
        BATON_CONFIG: configFile,
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
      }),
      isReady: (line) => line.includes('worker ready'),
      readyTimeoutMs: 120_000,
    });
    cleanup.add('stop worker', () => worker.stop(10_000));
    if (traceGc)
      createInterface({ input: worker.child.stdout! }).on('line', (line) => {
        if (/Mark-Compact|Mark-sweep/i.test(line)) log(`gc: ${line.replace(/^\[[^\]]*\]\s*/, '')}`);
      });
    const workerStartedAt = Date.now();
    log(`redis ${redis.url}, worker pid ${worker.pid}, ${childCount} children, 1-minute load ${loadAtStart}`);

    const dispatcher = await startRuntime(cleanup, redis.url, layer, 'memory dispatcher');
    const caller = {
      sessionKey: 'bench:memory:th1',
      origin: { platform: 'bench', channel: 'memory', thread: 'th1', user: benchActor.id, userName: 'Bench' },
      callerTaskId: null,
      depth: 0,
      displayName: 'Bench',
      actor: benchActor,
    };
    let dispatched = 0;
    const open = new Set<string>();
    let ended = 0;
    const endedBy = new Map<string, number>();
    const rss: Array<{
      atMs: number;
      ended: number;
      mb: number;
      heapTotalMb: number;
      spacesMb: Record<string, number>;
    }> = [];
    const heap: Array<{ atMs: number; ended: number; memory: MemoryAnswer }> = [];
    const snapshots: string[] = [];
    let lastGcAt = 0;
    let lastLogAt = Date.now();
    let lastProgressAt = Date.now();
    let nextRssAt = Date.now();
    if (snapshotDirectory) mkdirSync(snapshotDirectory, { recursive: true });
    const snapshot = async (name: string) => {
      if (!snapshotDirectory) return;
      const file = path.join(snapshotDirectory, `${name}.heapsnapshot`);
      await askProbe(worker, `snapshot ${file}`, 'snapshot', 300_000);
      snapshots.push(`${name} at ${ended} ended`);
      log(`heap snapshot ${file} at ${ended} ended`);
    };
    let warmSnapshotTaken = false;

    while (ended < childCount) {
      // Top up the backlog.
      while (dispatched < childCount && open.size < backlog) {
        const count = Math.min(batchSize, childCount - dispatched);
        const records = await dispatcher.service.dispatch(
          caller,
          Array.from({ length: count }, (_unused, index) => ({ goal: `memory child ${dispatched + index}` })),
        );
        for (const record of records) open.add(record.id);
        dispatched += count;
      }
      await sleep(500);
      const ids = [...open];
      const records = await dispatcher.store.getMany(ids);
      records.forEach((record, index) => {
        if (record && ['completed', 'failed', 'cancelled', 'timed_out'].includes(record.status)) {
          open.delete(ids[index]!);
          endedBy.set(record.status, (endedBy.get(record.status) ?? 0) + 1);
          ended += 1;
          lastProgressAt = Date.now();
        }
      });
      const now = Date.now();
      const atMs = now - workerStartedAt;
      if (now >= nextRssAt) {
        nextRssAt = now + rssSampleMs;
        // The heap's size as V8 holds it (no collection forced): RSS minus this is native memory and code.
        const memory = await askProbe<MemoryAnswer>(worker, 'memory', 'memory');
        rss.push({
          atMs,
          ended,
          mb: readRssMb(worker.pid),
          heapTotalMb: memory.heapTotalMb,
          spacesMb: memory.spacesMb,
        });
      }
      if (gcEveryMs > 0 && now - lastGcAt >= gcEveryMs) {
        lastGcAt = now;
        const memory = await askProbe<MemoryAnswer>(worker, 'gc', 'memory');
        heap.push({ atMs, ended, memory });
        log(
          `${ended} ended: heap after GC ${memory.heapUsedMb} MB (total ${memory.heapTotalMb}, external ` +
            `${memory.externalMb}, array buffers ${memory.arrayBuffersMb}), RSS ${memory.rssMb} MB`,
        );
      }
      if (!warmSnapshotTaken && atMs >= warmUpMs) {
        warmSnapshotTaken = true;
        await snapshot('1-warm');
      }
      if (now - lastProgressAt > 180_000) throw new Error(`no child ended for 3 minutes (${ended} ended)`);
      if (now - lastLogAt > 30_000) {
        lastLogAt = now;
        log(
          `${ended} of ${childCount} ended, RSS ${rss.at(-1)?.mb.toFixed(1)} MB, heap total ` +
            `${rss.at(-1)?.heapTotalMb} MB (${JSON.stringify(rss.at(-1)?.spacesMb)})`,
        );
      }
    }
    const durationS = (Date.now() - workerStartedAt) / 1000;
    const last = await askProbe<MemoryAnswer>(worker, 'gc', 'memory');
    heap.push({ atMs: Date.now() - workerStartedAt, ended, memory: last });
    await snapshot('2-end');

    const warmHeap = heap.filter((sample) => sample.atMs >= warmUpMs).slice(0, heapLevelSamples);
    const endHeap = heap.slice(-heapLevelSamples);
    const warmRss = rss.filter((sample) => sample.atMs >= warmUpMs).slice(0, rssLevelSamples);
    const endRss = rss.slice(-rssLevelSamples);
    const level = (samples: number[]) => round(median(samples), 1);
    const heapWarm = level(warmHeap.map((sample) => sample.memory.heapUsedMb));
    const heapEnd = level(endHeap.map((sample) => sample.memory.heapUsedMb));
    const rssWarm = level(warmRss.map((sample) => sample.mb));
    const rssEnd = level(endRss.map((sample) => sample.mb));
    const loadAtEnd = os.loadavg()[0]!;
    const extraFlags = nodeFlags.length > 0 ? `, worker run with ${nodeFlags.join(' ')}` : ', Node defaults';
    const setUp =
      `one baton worker (concurrency 20), ${ended} children processed (${[...endedBy].map(([status, count]) => `${count} ${status}`).join(', ')}; ` +
      `one model call each, 50–500 ms, 2% 429/500) in ${round(durationS, 0)} s; 1-minute load ${round(loadAtStart, 1)} at the start, ` +
      `${round(loadAtEnd, 1)} at the end (2 CPUs shared)${extraFlags}`;
    const trend = (samples: Array<{ ended: number; value: number }>) =>
      samples
        .filter((_sample, index) => index % Math.max(1, Math.floor(samples.length / 8)) === 0)
        .map((sample) => `${sample.value} MB at ${sample.ended}`)
        .join(', ');
    const heapAfterGc = [
      figure('worker_heap_after_gc_growth_ratio', heapEnd / heapWarm, 'x', {
        atMost: 1.1,
        decimals: 3,
        notes:
          `${setUp}. V8 heap used after a full collection (the probe's gc(), every ${gcEveryMs / 1000} s, ${heap.length} samples): ` +
          `${heapWarm} MB after warm-up (median of the first ${heapLevelSamples} from ${warmUpMs / 1000} s) -> ${heapEnd} MB ` +
          `at the end (median of the last ${heapLevelSamples}); trend: ${trend(heap.map((sample) => ({ ended: sample.ended, value: sample.memory.heapUsedMb })))}`,
      }),
    ];
    const results: BenchResult[] = [
      // A heap trend needs collections forced along the run (MEMORY_GC_EVERY_S > 0), not only the last one.
      ...(heap.length > 2 * heapLevelSamples ? heapAfterGc : []),
      figure('worker_rss_growth_ratio', rssEnd / rssWarm, 'x', {
        atMost: 1.1,
        decimals: 3,
        notes:
          `${setUp}; ${gcEveryMs > 0 ? `a full collection forced every ${gcEveryMs / 1000} s` : 'no collection forced'}. ` +
          `RSS (/proc, every ${rssSampleMs / 1000} s, ${rss.length} samples): ${rssWarm} MB after warm-up ` +
          `(median of ${rssLevelSamples} samples from ${warmUpMs / 1000} s) -> ${rssEnd} MB at the end (median of the last ` +
          `${rssLevelSamples}); trend: ${trend(rss.map((sample) => ({ ended: sample.ended, value: round(sample.mb, 1) })))}`,
      }),
    ];
    // Writing a snapshot costs the process hundreds of MB of RSS for a while: such a run's figures are not kept.
    if (snapshots.length === 0) mergeResultsJson(results);
    else log('heap snapshots were taken: figures not written to bench/results.json');
    for (const result of results)
      log(
        `${result.name} = ${result.value} ${result.unit} (goal ${result.goal}: ${result.met ? 'met' : 'MISSED'})`,
      );
    for (const result of results) log(`  ${result.notes}`);
    if (snapshots.length > 0) log(`snapshots: ${snapshots.join('; ')} in ${snapshotDirectory}`);
    return results.every((result) => result.met !== false) ? 0 : 1;
  } finally {
    await cleanup.run();
  }
}

process.exit(await main());
