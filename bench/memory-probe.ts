/**
 * A memory probe preloaded into a Baton process (`node --expose-gc --import tsx --import ./bench/memory-probe.ts
 * bin/baton.js worker`), for bench/worker-memory.ts. It reads stdin lines, answers on stdout (Baton logs go
 * to stderr):
 *
 *   - `gc`: a full garbage collection (twice, so objects freed by finalizers go too), then
 *     `{"event":"memory","rssMb":…,"heapUsedMb":…,"heapTotalMb":…,"externalMb":…,"arrayBuffersMb":…}`;
 *   - `memory`: the same figures without a collection first;
 *   (both with `spacesMb`: the size of each V8 heap space);
 *   - `snapshot <file>`: a full collection, then a heap snapshot written to `<file>`, answered with
 *     `{"event":"snapshot","file":…}`.
 *
 * Without `--expose-gc`, `gc` answers like `memory` with `"gc":false`.
 */
import { createInterface } from 'node:readline';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

const megabytes = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;
const write = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
const collect = globalThis.gc;

function memory(collected: boolean): Record<string, unknown> {
  const usage = process.memoryUsage();
  return {
    event: 'memory',
    gc: collected,
    rssMb: megabytes(usage.rss),
    heapUsedMb: megabytes(usage.heapUsed),
    heapTotalMb: megabytes(usage.heapTotal),
    externalMb: megabytes(usage.external),
    arrayBuffersMb: megabytes(usage.arrayBuffers),
    // Each heap space's size as V8 holds it (new space grows with the allocation rate, old space with
    // what survives), in MB.
    spacesMb: Object.fromEntries(
      getHeapSpaceStatistics().map((space) => [space.space_name, megabytes(space.space_size)]),
    ),
  };
}

function fullCollection(): boolean {
  if (!collect) return false;
  collect();
  collect();
  return true;
}

// The probe must never keep the process alive, nor end it: an unref'd stdin reader that ignores its close.
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [command, argument] = line.trim().split(/\s+/, 2);
  if (command === 'gc') write(memory(fullCollection()));
  else if (command === 'memory') write(memory(false));
  else if (command === 'snapshot' && argument) {
    fullCollection();
    write({ event: 'snapshot', file: writeHeapSnapshot(argument) });
  }
});
(process.stdin as { unref?: () => void }).unref?.();
