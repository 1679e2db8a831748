import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { hangReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  buildTestConfig,
  eventually,
  spawnWorkerProcess,
  testCaller,
  testConfigLayer,
  type WorkerProcess,
} from '../support/baton-harness.ts';
import { goalOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let worker: WorkerProcess;
const caller = testCaller();

beforeAll(async () => {
  // Depth 2 so an orchestrator child can start a grandchild.
  const layer = testConfigLayer(fake, { delegation: { max_spawn_depth: 2 } });
  runtime = await startRuntime(buildTestConfig(layer));
  // The worker is its own process: cancel must cross processes over Redis.
  worker = await spawnWorkerProcess(redis.url, layer);
});
afterAll(() => {
  worker?.child.kill('SIGKILL');
});

function requestFor(goal: string) {
  return fake.requests.find((request) => goalOf(request) === goal);
}

describe('cancel_task', () => {
  it('aborts the in-flight model request in another process within 200 ms, and the status stays cancelled', async () => {
    fake.setHandler(scriptByGoal({ 'hang on the model': () => hangReply() }));
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'hang on the model' }]);
    const request = await eventually(
      async () => requestFor('hang on the model'),
      15_000,
      'the child model call',
    );
    const started = performance.now();
    const abortedAt = new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        if (request.aborted) {
          clearInterval(poll);
          resolve(performance.now());
        }
      }, 1);
    });
    const { record, stopped } = await runtime.service.cancel(caller, task!.id);
    const abortMs = (await abortedAt) - started;
    expect(record.status).toBe('cancelled');
    expect(stopped).toBe(true);
    expect(abortMs).toBeLessThan(200);
    // Nothing overwrites a cancelled task later: no retry, no completion.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const later = await runtime.store.get(task!.id);
    expect(later!.status).toBe('cancelled');
    expect(later!.attempts).toBe(1);
    expect(await runtime.store.isHeldByRunner(task!.id)).toBe(false);
    expect(fake.requests.filter((candidate) => goalOf(candidate) === 'hang on the model')).toHaveLength(1);
  });

  it('cascades to the grandchild an orchestrator started', async () => {
    fake.setHandler(
      scriptByGoal({
        orchestrate: (_request, call) =>
          call === 1
            ? toolCallReply([
                { name: 'delegate_task_async', arguments: { goal: 'grandchild work', toolsets: [] } },
              ])
            : hangReply(),
        'grandchild work': () => hangReply(),
      }),
    );
    const [child] = await runtime.service.dispatch(caller, [{ goal: 'orchestrate', role: 'orchestrator' }]);
    const grandchildRequest = await eventually(
      async () => requestFor('grandchild work'),
      15_000,
      'grandchild call',
    );
    const grandchild = (await runtime.store.listSession(caller.sessionKey)).find(
      (record) => record.goal === 'grandchild work',
    )!;
    expect(grandchild.parentTaskId).toBe(child!.id);
    expect(grandchild.depth).toBe(2);
    const { record } = await runtime.service.cancel(caller, child!.id);
    expect(record.status).toBe('cancelled');
    expect((await runtime.store.get(grandchild.id))!.status).toBe('cancelled');
    await eventually(async () => (grandchildRequest.aborted ? true : undefined), 5000, 'grandchild abort');
    expect(await runtime.store.isHeldByRunner(grandchild.id)).toBe(false);
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(0);
  });

  it('cancels a queued task at once, and it never runs', async () => {
    await worker.child.kill('SIGTERM');
    await worker.exited;
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'never runs' }]);
    const { record, stopped } = await runtime.service.cancel(caller, task!.id);
    expect(record.status).toBe('cancelled');
    expect(stopped).toBe(true);
    await runtime.startWorker();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(requestFor('never runs')).toBeUndefined();
    expect((await runtime.store.get(task!.id))!.status).toBe('cancelled');
  });
});
