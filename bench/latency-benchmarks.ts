/**
 * Latency of the parent agent's delegation tools: dispatch (delegate_task_async), steer (steer_task to the
 * message read on the worker side) and cancel (cancel_task to the child's model request aborted).
 */
import type { TaskRecord } from '../src/tasks/task-record.ts';
import { hangReply, type RecordedRequest, startFakeOpenAIServer } from '../test/fakes/fake-openai-server.ts';
import { goalOf } from '../test/support/model-scripts.ts';
import { childEnvironment, startProcess } from './processes.ts';
import {
  type BenchContext,
  type BenchResult,
  benchApiKey,
  benchApiKeyEnv,
  benchLayer,
  CleanupStack,
  describeLatency,
  figure,
  parentCaller,
  parentContext,
  startRuntime,
  summarize,
  waitFor,
  withTimeout,
  writeConfigFile,
} from './support.ts';
import { ParentTools } from './tool-calls.ts';

/** A base URL nothing listens on: for runtimes that never call a model. */
const unusedModelURL = 'http://127.0.0.1:9/v1';

/** `delegate_task_async` through executeToolCall until it returns the task id; no worker runs. */
export async function benchDispatch(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const runtime = await startRuntime(
      cleanup,
      context.redisUrl,
      benchLayer('dispatch', unusedModelURL),
      'dispatch',
    );
    const tools = new ParentTools(runtime, parentContext('bench:dispatch:th1'));
    const warmUp = 300;
    const count = 2000;
    const samples: number[] = [];
    for (let index = 0; index < warmUp + count; index += 1) {
      const started = performance.now();
      const result = await tools.call<{ task_id: string; status: string }>('delegate_task_async', {
        goal: `benchmark task ${index}: summarise the quarterly report`,
        context: 'Dispatch latency benchmark; this child never runs.',
      });
      const elapsed = performance.now() - started;
      if (!result.task_id || result.status !== 'queued')
        throw new Error(`unexpected result ${JSON.stringify(result)}`);
      if (index >= warmUp) samples.push(elapsed);
    }
    const summary = summarize(samples);
    context.log(`dispatch: ${describeLatency(summary)}`);
    const notes =
      `${count} sequential delegate_task_async tool calls (after ${warmUp} warm-up) through executeToolCall, ` +
      `no worker running; ${describeLatency(summary)}`;
    return [
      figure('dispatch_p50_ms', summary.p50, 'ms', { notes }),
      figure('dispatch_p99_ms', summary.p99, 'ms', { atMost: 5, notes }),
    ];
  } finally {
    await cleanup.run();
  }
}

/**
 * `steer_task` through executeToolCall until the worker side (a second BatonRuntime in this process with
 * its own Redis connections, which also runs the BullMQ worker holding the children) got the `steer`
 * signal over pub/sub and read the message with `store.readInbox`.
 */
export async function benchSteer(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const fake = await startFakeOpenAIServer({ handler: () => hangReply() });
    cleanup.add('close fake model', () => fake.close());
    const layer = benchLayer('steer', fake.baseURL, { worker: { concurrency: 50 } });
    // Closed in reverse order: the worker side first, so its held model requests end before the fake closes.
    const parent = await startRuntime(cleanup, context.redisUrl, layer, 'parent-side');
    const workerSide = await startRuntime(cleanup, context.redisUrl, layer, 'worker-side');
    await workerSide.startWorker();

    const sessionKey = 'bench:steer:th1';
    const childCount = 20;
    const records = await parent.service.dispatch(
      parentCaller(sessionKey),
      Array.from({ length: childCount }, (_unused, index) => ({ goal: `steer benchmark child ${index}` })),
    );
    const ids = records.map((record) => record.id);
    await fake.waitForRequests(childCount, 20_000);
    const statuses = (await parent.store.getMany(ids)).map((record) => record?.status);
    if (!statuses.every((status) => status === 'running')) {
      throw new Error(`children are not all running: ${statuses.join(', ')}`);
    }

    // The worker-side reader: on each `steer` signal, read the task's inbox after its cursor.
    const cursors = new Map(ids.map((id) => [id, '0-0']));
    const waiting = new Map<string, (at: number) => void>();
    for (const id of ids) {
      const unsubscribe = workerSide.signals.onTask(id, (signal) => {
        if (signal.kind !== 'steer') return;
        void workerSide.store.readInbox(id, cursors.get(id)!).then((messages) => {
          const at = performance.now();
          for (const message of messages) {
            cursors.set(id, message.id);
            waiting.get(message.text)?.(at);
            waiting.delete(message.text);
          }
        });
      });
      cleanup.add('stop listening', unsubscribe);
    }

    const tools = new ParentTools(parent, parentContext(sessionKey));
    const warmUp = 100;
    const count = 1000;
    const samples: number[] = [];
    for (let index = 0; index < warmUp + count; index += 1) {
      const taskId = ids[index % childCount]!;
      const message = `steer ${index}: focus on the second half of the report`;
      const read = new Promise<number>((resolve) => waiting.set(message, resolve));
      const started = performance.now();
      const [readAt, result] = await withTimeout(
        Promise.all([read, tools.call<{ status: string }>('steer_task', { task_id: taskId, message })]),
        10_000,
        `steer ${index}`,
      );
      if (result.status !== 'steer_queued') throw new Error(`unexpected result ${JSON.stringify(result)}`);
      if (index >= warmUp) samples.push(readAt - started);
    }
    const summary = summarize(samples);
    context.log(`steer: ${describeLatency(summary)}`);
    const notes =
      `${count} sequential steer_task tool calls (after ${warmUp} warm-up) round-robin over ${childCount} ` +
      'running children (model call held open), measured until a second BatonRuntime (worker side, own Redis ' +
      `connections, same process) got the steer signal and read the message from the inbox; ${describeLatency(summary)}`;
    return [figure('steer_p99_ms', summary.p99, 'ms', { atMost: 5, notes })];
  } finally {
    await cleanup.run();
  }
}

/**
 * `cancel_task` through executeToolCall until the fake model (in this process) sees the child's held
 * request's connection closed. The children run in a separate `baton worker` process (bin/baton.js).
 */
export async function benchCancel(context: BenchContext): Promise<BenchResult[]> {
  const cleanup = new CleanupStack();
  try {
    const abortWaiters = new Map<string, (at: number) => void>();
    const requestsByGoal = new Map<string, RecordedRequest>();
    const fake = await startFakeOpenAIServer({
      recordRequests: false,
      handler: (request) => {
        const goal = goalOf(request);
        if (goal) requestsByGoal.set(goal, request);
        // The fake flips `aborted` in its response 'close' listener: turn that into an event.
        let aborted = false;
        Object.defineProperty(request, 'aborted', {
          get: () => aborted,
          set: (value: boolean) => {
            const at = performance.now();
            aborted = value;
            if (value && goal) abortWaiters.get(goal)?.(at);
          },
        });
        return hangReply();
      },
    });
    cleanup.add('close fake model', () => fake.close());

    const warmUp = 20;
    const count = 150;
    const layer = benchLayer('cancel', fake.baseURL, {
      worker: { concurrency: warmUp + count + 10 },
      delegation: { cancel_wait_s: 10 },
    });
    const configFile = writeConfigFile(cleanup, layer, 'cancel');
    const worker = await startProcess({
      label: 'baton worker',
      args: ['bin/baton.js', 'worker'],
      env: childEnvironment({
        REDIS_URL: context.redisUrl,
        BATON_CONFIG: configFile,
        LOG_LEVEL: 'info',
        [benchApiKeyEnv]: benchApiKey,
      }),
      isReady: (line) => line.includes('"msg":"worker ready"'),
    });
    cleanup.add('stop worker process', () => worker.stop());

    const parent = await startRuntime(cleanup, context.redisUrl, layer, 'parent');
    const sessionKey = 'bench:cancel:th1';
    const total = warmUp + count;
    const goals = Array.from({ length: total }, (_unused, index) => `cancel benchmark child ${index}`);
    const records: TaskRecord[] = [];
    for (let start = 0; start < total; start += 50) {
      const batch = goals.slice(start, start + 50).map((goal) => ({ goal }));
      records.push(...(await parent.service.dispatch(parentCaller(sessionKey), batch)));
    }
    await waitFor(
      () => (requestsByGoal.size === total ? true : undefined),
      30_000,
      `${total} held model requests (have ${requestsByGoal.size})`,
    );

    const tools = new ParentTools(parent, parentContext(sessionKey));
    const samples: number[] = [];
    const toolDurations: number[] = [];
    for (const [index, record] of records.entries()) {
      const aborted = new Promise<number>((resolve) => abortWaiters.set(record.goal, resolve));
      const started = performance.now();
      const call = tools.call<{ status: string; stopping?: boolean }>('cancel_task', { task_id: record.id });
      const abortedAt = await withTimeout(aborted, 15_000, `abort of ${record.id}`);
      const result = await withTimeout(call, 15_000, `cancel_task ${record.id}`);
      const returnedAt = performance.now();
      if (result.status !== 'cancelled' || result.stopping) {
        throw new Error(`unexpected result ${JSON.stringify(result)}`);
      }
      if (index >= warmUp) {
        samples.push(abortedAt - started);
        toolDurations.push(returnedAt - started);
      }
    }
    const summary = summarize(samples);
    const toolSummary = summarize(toolDurations);
    context.log(`cancel (to request aborted): ${describeLatency(summary)}`);
    context.log(`cancel (tool call returned, child confirmed stopped): ${describeLatency(toolSummary)}`);
    const notes =
      `${count} sequential cancel_task tool calls (after ${warmUp} warm-up) on running children held by a ` +
      "separate `baton worker` process, each child's model request hanging on the fake model in this process; " +
      `measured to the fake's close event on that request: ${describeLatency(summary)}. The tool call itself ` +
      `returns once the worker confirmed the stop: p50 ${toolSummary.p50.toFixed(3)} ms, p99 ${toolSummary.p99.toFixed(3)} ms`;
    return [figure('cancel_p99_ms', summary.p99, 'ms', { atMost: 50, notes })];
  } finally {
    await cleanup.run();
  }
}
