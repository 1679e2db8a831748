/**
 * `npm run bench:parked`: what a task waiting for a person costs (issue 11), on a private, non-persistent
 * redis-server. Prints its figures and puts them into bench/results.json (replacing figures of the same
 * names, keeping the others).
 *
 * - parked_10000_worker_rss_delta_mb: one `baton worker` process (bench/worker-with-probe.ts, concurrency
 *   50) parks 10,000 children that each call ask_user at once; its RSS then, minus its RSS when idle after
 *   start. Parked tasks hold no job in the worker, so this should stay near zero.
 * - parked_redis_bytes_per_task: Redis `used_memory` per parked task whose checkpoint holds a 10-message
 *   conversation (system, goal, four tool calls with results, the ask_user call), everything included
 *   (record, events, checkpoint, the delayed resume job, the prompt's outbox entry, sets).
 * - answer_to_resume_p99_ms: a person's answer (TaskService.answer called) → the child's next model
 *   request reaching the model, one at a time on an idle worker.
 *
 * The machine is shared with other work: the figures are noisy; the load averages are printed with them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import type { BatonRuntime } from '../src/runtime/baton-runtime.ts';
import { startFakeOpenAIServer, textReply, toolCallReply } from '../test/fakes/fake-openai-server.ts';
import { goalOf, messagesOf } from '../test/support/model-scripts.ts';
import { type ProbeSample, type ProbeWorker, startProbeWorker } from './processes.ts';
import { formatTable, mergeResultsJson } from './report.ts';
import {
  type BenchResult,
  benchLayer,
  CleanupStack,
  figure,
  parentCaller,
  percentile,
  sleep,
  startRuntime,
  waitFor,
  writeConfigFile,
} from './support.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);
const parkedTasks = Number(process.env.BENCH_PARKED_TASKS ?? 10_000);
const memoryTasks = 500;
const warmUpTasks = 500;
const resumeSamples = 200;
const batch = 100;

/** Children whose goal starts with "long " make four tool calls before they ask; the others ask at once. */
const modelArrivals = new Map<string, number>();

async function main(): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const cleanup = new CleanupStack();
  try {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-parked-'));
    cleanup.add('remove redis directory', () => rmSync(directory, { recursive: true, force: true }));
    const redis = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
    cleanup.add('stop redis-server', () => redis.stop());
    const fake = await startFakeOpenAIServer({
      recordRequests: false,
      handler: (request) => {
        const goal = goalOf(request) ?? '';
        const messages = messagesOf(request);
        const last = messages.at(-1);
        const answered = last?.role === 'tool' && String(last.content).includes('"answered_by"');
        if (answered) {
          modelArrivals.set(goal, performance.now());
          return textReply('done');
        }
        const toolCalls = messages.filter((message) => message.role === 'assistant').length;
        if (goal.startsWith('long ') && toolCalls < 4) {
          return toolCallReply([{ name: 'look_around', arguments: { note: 'x'.repeat(200) } }]);
        }
        return toolCallReply([{ name: 'ask_user', arguments: { question: `May I go on with ${goal}?` } }]);
      },
    });
    cleanup.add('close fake model', () => fake.close());
    log(`bench: redis-server on ${redis.url}; fake model on ${fake.baseURL}`);

    const layer = benchLayer('parked', fake.baseURL, {
      delegation: { max_parked_per_session: 1_000_000 },
      worker: { concurrency: 50, lock_duration_ms: 10_000, stalled_interval_ms: 5000 },
    });
    const runtime = await startRuntime(cleanup, redis.url, layer, 'dispatcher');
    const worker = await startProbeWorker(cleanup, redis.url, writeConfigFile(cleanup, layer, 'parked'), {
      exposeGc: true,
    });
    await sleep(2000);
    // Every sample follows a full collection: it counts what the worker keeps, not garbage not yet collected.
    await worker.collectGarbage();
    const fresh = await worker.sample();
    log(`  worker fresh: ${memoryLine(fresh)}`);
    // Warm-up: the worker parks and resumes some tasks first (code compiled, pools and buffers grown), then
    // has nothing left: the idle figure of a worker that has worked, which the parked figure is compared to.
    const warmCaller = parentCaller('bench:c1:warm-up');
    const warmIds = await park(runtime, warmCaller, warmUpTasks, 'warm-up');
    await Promise.all(warmIds.map((id) => runtime.service.answer(warmCaller, id, 'yes')));
    await runtime.service.waitForEnd(warmIds, 120_000);
    const idle = await settledSample(worker);
    log(`  worker idle after ${warmUpTasks} tasks parked and resumed: ${memoryLine(idle)}`);

    const results: BenchResult[] = [];
    const sessionKey = 'bench:c1:parked';
    const caller = parentCaller(sessionKey);
    const started = performance.now();
    const ids = await park(runtime, caller, parkedTasks, 'task');
    const parkSeconds = (performance.now() - started) / 1000;
    log(`  ${parkedTasks} tasks parked in ${parkSeconds.toFixed(1)} s`);
    const loaded = await settledSample(worker);
    log(`  worker with ${parkedTasks} parked: ${memoryLine(loaded)}`);
    results.push(
      figure(`parked_${parkedTasks}_worker_rss_delta_mb`, loaded.rssMb - idle.rssMb, 'MB', {
        atMost: 20,
        decimals: 1,
        notes:
          `one worker (concurrency 50) parked ${parkedTasks} tasks in ${parkSeconds.toFixed(1)} s. RSS idle ` +
          `${idle.rssMb.toFixed(1)} MB (after ${warmUpTasks} tasks parked and resumed; ${fresh.rssMb.toFixed(1)} MB ` +
          `fresh), ${loaded.rssMb.toFixed(1)} MB with all ${parkedTasks} parked, each sampled after 30 s at rest ` +
          `with full collections; V8 heap committed ${idle.heapTotalMb.toFixed(1)} → ${loaded.heapTotalMb.toFixed(1)} MB, used after a full ` +
          `collection ${idle.heapUsedMb.toFixed(1)} → ${loaded.heapUsedMb.toFixed(1)} MB. RSS on this shared ` +
          'machine varies by tens of MB between runs (memory the allocator keeps after the bursts of running ' +
          'the tasks); the heap after collection is what parked tasks would hold, if anything',
      }),
      figure(`parked_${parkedTasks}_worker_heap_delta_mb`, loaded.heapUsedMb - idle.heapUsedMb, 'MB', {
        decimals: 1,
        notes: 'the same worker: V8 heap used after a full collection, with all parked minus idle',
      }),
    );

    // Answer → next model request, one at a time: the worker has nothing else to do.
    const latencies: number[] = [];
    for (const id of ids.slice(0, resumeSamples)) {
      const record = (await runtime.store.get(id))!;
      const before = performance.now();
      await runtime.service.answer(caller, id, 'yes');
      const arrived = await waitFor(() => modelArrivals.get(record.goal), 10_000, `${id} resumed`, 1);
      latencies.push(arrived - before);
      await runtime.service.waitForEnd([id], 10_000);
    }
    results.push(
      figure('answer_to_resume_p99_ms', percentile(latencies, 99), 'ms', {
        atMost: 100,
        decimals: 1,
        notes:
          `${resumeSamples} answers one at a time (TaskService.answer called → the child's next model request ` +
          `arrives), worker idle: p50 ${percentile(latencies, 50).toFixed(1)} ms, max ` +
          `${Math.max(...latencies).toFixed(1)} ms`,
      }),
    );

    // Redis memory per parked task with a 10-message checkpoint, on a session of its own.
    const before = await usedMemory(runtime);
    await park(runtime, parentCaller('bench:c1:memory'), memoryTasks, 'long task');
    await sleep(500);
    const after = await usedMemory(runtime);
    const checkpointBytes = await checkpointSize(runtime, 'bench:c1:memory');
    results.push(
      figure('parked_redis_bytes_per_task', (after - before) / memoryTasks, 'bytes', {
        decimals: 0,
        notes:
          `used_memory growth over ${memoryTasks} parked tasks, each checkpointed with a 10-message ` +
          `conversation (its checkpoint alone ${checkpointBytes} bytes of JSON): record, events, checkpoint, ` +
          'delayed resume job, prompt outbox entry, delivery job and set members',
      }),
    );
    await worker.process.stop(15_000);

    log('');
    log(formatTable(results));
    log('');
    log(`load average: ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end`);
    log(`results: ${mergeResultsJson(results)}`);
    return 0;
  } catch (error) {
    process.stderr.write(`bench: parked CRASHED: ${error instanceof Error ? error.stack : String(error)}\n`);
    return 1;
  } finally {
    await cleanup.run();
  }
}

/** Dispatches `count` children (goals `<label> N`) in batches and waits until every one is parked. */
async function park(
  runtime: BatonRuntime,
  caller: ReturnType<typeof parentCaller>,
  count: number,
  label: string,
): Promise<string[]> {
  const ids: string[] = [];
  for (let first = 0; first < count; first += batch) {
    const size = Math.min(batch, count - first);
    const goals = Array.from({ length: size }, (_, index) => ({ goal: `${label} ${first + index}` }));
    ids.push(...(await runtime.service.dispatch(caller, goals)).map((record) => record.id));
  }
  await waitFor(
    async () => ((await runtime.store.parkedCount(caller.sessionKey)) >= count ? true : undefined),
    600_000,
    `${count} parked tasks`,
    250,
  );
  return ids;
}

/**
 * A sample of the worker at rest: left alone for half a minute with a full collection every 10 s, so that V8
 * has given back the heap it grew while running tasks (what a parked wait of minutes or hours sees).
 */
async function settledSample(worker: ProbeWorker): Promise<ProbeSample> {
  await sleep(3000);
  for (let round = 0; round < 3; round += 1) {
    await worker.collectGarbage();
    await sleep(10_000);
  }
  return worker.sample();
}

function memoryLine(sample: ProbeSample): string {
  return (
    `RSS ${sample.rssMb.toFixed(1)} MB, heap ${sample.heapUsedMb.toFixed(1)} MB used of ` +
    `${sample.heapTotalMb.toFixed(1)} MB, external ${sample.externalMb.toFixed(1)} MB`
  );
}

async function usedMemory(runtime: BatonRuntime): Promise<number> {
  const info = await runtime.redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

async function checkpointSize(runtime: BatonRuntime, sessionKey: string): Promise<number> {
  const [record] = await runtime.store.listSession(sessionKey, { limit: 1 });
  return (await runtime.redis.strlen(runtime.keys.taskCheckpoint(record!.id))) ?? 0;
}

process.exit(await main());
