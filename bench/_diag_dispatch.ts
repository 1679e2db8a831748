import { PerformanceObserver } from 'node:perf_hooks';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import { CleanupStack, benchLayer, parentContext, startRuntime, summarize, describeLatency } from './support.ts';
import { ParentTools } from './tool-calls.ts';

const gcs: Array<{ start: number; duration: number; kind: number }> = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration, kind: (e as any).detail?.kind });
}).observe({ entryTypes: ['gc'] });

const cleanup = new CleanupStack();
const redis = await startLocalRedisServer({ dataDirectory: mkdtempSync(path.join(os.tmpdir(), 'diag-')), persistent: false });
cleanup.add('redis', () => redis.stop());
const runtime = await startRuntime(cleanup, redis.url, benchLayer('d', 'http://127.0.0.1:9/v1'), 'd');
const tools = new ParentTools(runtime, parentContext('bench:d:th1'));
const store = runtime.store as any;
// phase timings by wrapping
const phase: Record<string, number[]> = { admit: [], events: [], enqueue: [] };
const wrap = (obj: any, name: string, key: string) => { const orig = obj[name].bind(obj); obj[name] = async (...a: any[]) => { const t = performance.now(); try { return await orig(...a); } finally { phase[key]!.push(performance.now() - t); } }; };
wrap(runtime.queue, 'enqueue', 'enqueue');
wrap(store, 'appendEvents', 'events');
const samples: { start: number; d: number }[] = [];
for (let i = 0; i < 2300; i++) {
  const t = performance.now();
  await tools.call('delegate_task_async', { goal: `g ${i}`, context: 'x' });
  if (i >= 300) samples.push({ start: t, d: performance.now() - t });
}
console.log(describeLatency(summarize(samples.map((s) => s.d))));
for (const k of Object.keys(phase)) console.log(k, describeLatency(summarize(phase[k]!.slice(300))));
const slow = samples.filter((s) => s.d > 2);
let withGc = 0;
for (const s of slow) { if (gcs.some((g) => g.start < s.start + s.d && g.start + g.duration > s.start)) withGc++; }
console.log('slow', slow.length, 'overlap gc', withGc, 'gc count', gcs.length, 'gc total ms', gcs.reduce((a, g) => a + g.duration, 0).toFixed(1), 'max gc', Math.max(...gcs.map(g=>g.duration)).toFixed(2));
console.log(slow.slice(0, 20).map((s) => s.d.toFixed(2)).join(' '));
await cleanup.run();
process.exit(0);
