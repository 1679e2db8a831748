import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { hangReply, type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  buildTestConfig,
  eventually,
  spawnWorkerProcess,
  testCaller,
  testConfigLayer,
  type WorkerProcess,
} from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let layer: Record<string, unknown>;
const workers: WorkerProcess[] = [];
const caller = testCaller();

beforeAll(async () => {
  // The default lock and stall settings, so recovery is measured as deployed.
  layer = testConfigLayer(fake, {
    worker: { shutdown_grace_s: 1, lock_duration_ms: 3000, stalled_interval_ms: 1000 },
    delegation: { max_spawn_depth: 2 },
  });
  runtime = await startRuntime(buildTestConfig(layer));
});
afterEach(() => {
  for (const worker of workers.splice(0)) worker.child.kill('SIGKILL');
});

async function startWorker(): Promise<WorkerProcess> {
  const worker = await spawnWorkerProcess(redis.url, layer);
  workers.push(worker);
  return worker;
}

const requestsFor = (goal: string): RecordedRequest[] =>
  fake.requests.filter((request) => goalOf(request) === goal);
const messageCounts = (goal: string) => requestsFor(goal).map((request) => messagesOf(request).length);

describe('durability', () => {
  it('resumes a child of a SIGKILLed worker on another worker from its checkpoint, redoing no finished step', async () => {
    fake.setHandler(
      scriptByGoal({
        'survive a crash': (_request, call) => {
          if (call === 1) return toolCallReply([{ name: 'missing_tool', arguments: { step: 1 } }]);
          if (call === 2) return hangReply();
          return textReply('finished after the crash');
        },
      }),
    );
    const first = await startWorker();
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'survive a crash' }]);
    await eventually(async () => (requestsFor('survive a crash').length === 2 ? true : undefined), 15_000);
    expect((await runtime.store.loadCheckpoint(task!.id))?.steps).toBe(1);
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    await startWorker();
    await eventually(async () => (requestsFor('survive a crash').length === 3 ? true : undefined), 30_000);
    const recoveryMs = Date.now() - killedAt;
    // With the defaults a killed worker's job comes back within about 3-4 s (goal 5 s); the bound is generous.
    process.stdout.write(`stalled-job recovery with default lock/stall settings: ${recoveryMs} ms\n`);
    expect(recoveryMs).toBeLessThan(20_000);
    const { records, timedOut } = await runtime.service.waitForEnd([task!.id], 30_000);
    expect(timedOut).toBe(false);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toBe('finished after the crash');
    expect(records[0]!.attempts).toBe(2);
    // Step 1 (2 messages in) ran once; step 2 (4 messages in) was cut by the crash and ran again from the checkpoint.
    expect(messageCounts('survive a crash')).toEqual([2, 4, 4]);
    const [, interrupted, resumed] = requestsFor('survive a crash');
    expect(messagesOf(resumed!)).toEqual(messagesOf(interrupted!));
    const events = await runtime.store.recentEvents(task!.id, 50);
    expect(events.some((event) => event.text.includes('resumed on another worker'))).toBe(true);
  });

  it('on SIGTERM, stops children at a step boundary within the grace period and resumes them elsewhere', async () => {
    const atBoundary = 'reach a boundary';
    const mustAbort = 'abort after grace';
    fake.setHandler(
      scriptByGoal({
        // Answers during the grace period: the child stops at the boundary that follows.
        [atBoundary]: (_request, call) => {
          if (call === 1) return toolCallReply([{ name: 'missing_tool', arguments: {} }], { delayMs: 300 });
          return textReply('done at boundary');
        },
        // Never answers on the first worker: the call is aborted when the grace period ends.
        [mustAbort]: (_request, call) => (call === 1 ? hangReply() : textReply('done after abort')),
      }),
    );
    const first = await startWorker();
    const [boundaryTask, abortTask] = await runtime.service.dispatch(caller, [
      { goal: atBoundary },
      { goal: mustAbort },
    ]);
    await eventually(async () =>
      requestsFor(atBoundary).length && requestsFor(mustAbort).length ? true : undefined,
    );
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    for (const id of [boundaryTask!.id, abortTask!.id]) {
      const record = await runtime.store.get(id);
      expect(record!.status).toBe('running');
    }
    expect(requestsFor(mustAbort)[0]!.aborted).toBe(true);
    await startWorker();
    const { records } = await runtime.service.waitForEnd([boundaryTask!.id, abortTask!.id], 30_000);
    expect(records.map((record) => record.status)).toEqual(['completed', 'completed']);
    // The boundary child finished step 1 before stopping, so the second worker starts at step 2.
    expect(messageCounts(atBoundary)).toEqual([2, 4]);
    expect(messageCounts(mustAbort)).toEqual([2, 2]);
  });

  it('replays a tool batch cut by a crash without asking the model again or starting a second child', async () => {
    fake.setHandler(
      scriptByGoal({
        'orchestrate through a crash': (_request, call) =>
          call === 1
            ? toolCallReply([
                { name: 'delegate_task', arguments: { tasks: [{ goal: 'slow grandchild', toolsets: [] }] } },
              ])
            : textReply('orchestrator done'),
        'slow grandchild': (_request, call) => (call === 1 ? hangReply() : textReply('grandchild done')),
      }),
    );
    const first = await startWorker();
    const [task] = await runtime.service.dispatch(caller, [
      { goal: 'orchestrate through a crash', role: 'orchestrator' },
    ]);
    // The orchestrator is inside its tool batch, waiting on the grandchild, when the worker dies.
    await eventually(async () => (requestsFor('slow grandchild').length === 1 ? true : undefined), 15_000);
    first.child.kill('SIGKILL');
    await first.exited;
    await startWorker();
    const { records, timedOut } = await runtime.service.waitForEnd([task!.id], 30_000);
    expect(timedOut).toBe(false);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toBe('orchestrator done');
    // The model was asked once for step 1 and once after it: the replay ran the saved tool call.
    expect(requestsFor('orchestrate through a crash')).toHaveLength(2);
    const grandchildren = (await runtime.store.listSession(caller.sessionKey)).filter(
      (record) => record.goal === 'slow grandchild',
    );
    expect(grandchildren).toHaveLength(1);
    expect(grandchildren[0]!.status).toBe('completed');
    const resultMessage = messagesOf(requestsFor('orchestrate through a crash')[1]!).find(
      (message) => message.role === 'tool',
    );
    expect(JSON.parse(String(resultMessage!.content)).results[0]).toMatchObject({
      task_id: grandchildren[0]!.id,
      status: 'completed',
      summary: 'grandchild done',
    });
  });
});
