import { beforeAll, describe, expect, it } from 'vitest';
import { TaskReader } from '../../src/gateway/task-reader.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * The console's read port as the gateway implements it, on a real runtime (no worker: tasks stay queued
 * unless a test moves them): what the console's pages get without reaching the stores themselves.
 */
const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;

beforeAll(async () => {
  // Depth 2, so a task can start one of its own.
  runtime = await startRuntime(
    buildTestConfig(testConfigLayer(fake, { delegation: { max_spawn_depth: 2 } })),
  );
});

function childCaller(parent: TaskCaller, parentTaskId: string): TaskCaller {
  return { ...parent, callerTaskId: parentTaskId, depth: 1, displayName: parentTaskId };
}

describe('TaskReader (the console’s read port)', () => {
  it('builds the tree by session, nests a task’s own tasks under it, and names the newest task', async () => {
    const reader = new TaskReader({ store: runtime.store, signals: runtime.signals });
    const caller = testCaller('reader-tree');
    const [top] = await runtime.service.dispatch(caller, [{ goal: 'Top task', role: 'orchestrator' }]);
    // Only a running task starts tasks of its own.
    await runtime.store.claim(top!.id, 'runner-top');
    const [nested] = await runtime.service.dispatch(childCaller(caller, top!.id), [{ goal: 'Nested task' }]);
    const [other] = await runtime.service.dispatch(testCaller('reader-other'), [{ goal: 'Other thread' }]);

    const tree = await reader.taskTree();
    expect(tree.newestTaskId).toBe(other!.id);
    expect(await reader.newestTaskId()).toBe(other!.id);
    const session = tree.sessions.find((item) => item.sessionKey === caller.sessionKey)!;
    expect(session.origin).toEqual({ platform: 'test', channel: 'c1', thread: 'reader-tree' });
    expect(session.activeCount).toBe(2);
    expect(session.tasks.map((node) => node.id)).toEqual([top!.id]);
    expect(session.tasks[0]!.children.map((node) => [node.id, node.depth, node.parentTaskId])).toEqual([
      [nested!.id, top!.depth + 1, top!.id],
    ]);
    // Without a usage ledger there is no cost to show, and no usage report.
    expect(session.tasks[0]!.cost).toBeNull();
    expect(await reader.usageOverview()).toBeNull();
  });

  it('gives a task’s detail and origin, and nothing for ids that are not tasks', async () => {
    const reader = new TaskReader({ store: runtime.store, signals: runtime.signals, usage: runtime.usage });
    const [task] = await runtime.service.dispatch(testCaller('reader-detail'), [{ goal: 'Detailed task' }]);
    await runtime.store.claim(task!.id, 'runner-1');
    await runtime.store.appendEvent(task!.id, 'step-start', 'step 1');

    const detail = (await reader.taskDetail(task!.id))!;
    expect(detail.task).toMatchObject({ id: task!.id, goal: 'Detailed task', status: 'running' });
    expect(detail.events.map((event) => event.activity)).toEqual([
      'waiting for a worker',
      'started',
      'step 1 started',
    ]);
    expect(detail.usage).toMatchObject({ tokens: 0, cost: 0 });
    expect(detail.summary).toBeNull();
    expect(await reader.taskOrigin(task!.id)).toEqual({
      platform: 'test',
      channel: 'c1',
      thread: 'reader-detail',
    });

    for (const id of ['t_unknown1', 'not-a-task-id', '../../etc']) {
      expect(await reader.taskDetail(id)).toBeNull();
      expect(await reader.taskOrigin(id)).toBeNull();
      expect(await reader.taskDiff(id)).toBeNull();
    }
  });

  it('nudges its listeners when a task changes, until they unsubscribe', async () => {
    const reader = new TaskReader({ store: runtime.store, signals: runtime.signals });
    let nudges = 0;
    const unsubscribe = reader.onTaskChange(() => {
      nudges += 1;
    });
    await runtime.service.dispatch(testCaller('reader-signals'), [{ goal: 'Signalled task' }]);
    await eventually(async () => (nudges > 0 ? true : undefined), 15_000, 'a nudge for the new task');
    unsubscribe();
    const seen = nudges;
    await runtime.service.dispatch(testCaller('reader-signals'), [{ goal: 'Unheard task' }]);
    // The signal of the second task has had ample time to arrive (publish → receive is well under 1 ms here).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(nudges).toBe(seen);
  });
});
