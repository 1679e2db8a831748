import { beforeEach, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { hangReply, textReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import type { GoalScript } from '../support/model-scripts.ts';
import { runParentTurn } from '../support/parent-turn.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;

// Children finish at once unless their goal says "hang"; those wait on the model until cancelled.
const childScripts: Record<string, GoalScript> = new Proxy(
  {},
  {
    get: (_target, goal: string) =>
      goal.startsWith('hang') ? () => hangReply() : () => textReply(`done: ${goal}`),
    has: () => true,
  },
);

beforeEach(async () => {
  runtime = await startRuntime(
    buildTestConfig(
      testConfigLayer(fake, {
        delegation: { max_batch_size: 3, collect_default_timeout_s: 20, collect_max_timeout_s: 20 },
      }),
    ),
  );
  await runtime.startWorker();
});

const turn = (calls: Parameters<typeof runParentTurn>[2], sessionKey?: string) =>
  runParentTurn(runtime, fake, calls, { childScripts, ...(sessionKey ? { sessionKey } : {}) });

describe('delegation tools through the model client', () => {
  it('delegate_task runs a batch in parallel and returns every result', async () => {
    const [result] = await turn([
      { name: 'delegate_task', arguments: { tasks: [{ goal: 'alpha' }, { goal: 'beta', context: 'b' }] } },
    ]);
    const results = (result as { results: Array<Record<string, unknown>> }).results;
    expect(results).toHaveLength(2);
    expect(results.map((entry) => entry.summary)).toEqual(['done: alpha', 'done: beta']);
    for (const entry of results) {
      expect(entry).toMatchObject({ status: 'completed', steps: 1 });
      expect(entry.task_id).toMatch(/^t_[a-z0-9]{6}$/);
      expect(entry.tokens).toBeGreaterThan(0);
      expect(typeof entry.duration_s).toBe('number');
    }
  });

  it('delegate_task_async returns at once; check, collect and list see the task', async () => {
    const [started] = await turn([{ name: 'delegate_task_async', arguments: { goal: 'gamma' } }]);
    expect(started).toEqual({ task_id: expect.stringMatching(/^t_/), status: 'queued' });
    const taskId = started!.task_id as string;
    const [collected] = await turn([{ name: 'collect_task', arguments: { task_id: taskId, timeout_s: 10 } }]);
    expect(collected).toEqual({
      task_id: taskId,
      status: 'completed',
      summary: 'done: gamma',
      timed_out: false,
    });
    const [checked] = await turn([{ name: 'check_task', arguments: { task_id: taskId } }]);
    expect(checked).toMatchObject({ task_id: taskId, status: 'completed', goal: 'gamma', steps: 1 });
    expect((checked!.recent as string[]).join('\n')).toMatch(
      /queued -> running[\s\S]*step-start[\s\S]*completed/,
    );
    const [listed, listedRunning] = await turn([
      { name: 'list_tasks', arguments: {} },
      { name: 'list_tasks', arguments: { status: 'running' } },
    ]);
    expect((listed!.tasks as Array<Record<string, unknown>>).map((task) => task.task_id)).toContain(taskId);
    expect(listedRunning).toEqual({ tasks: [] });
  });

  it('collect_task times out without ending the task; cancel_task then stops it', async () => {
    const [started] = await turn([{ name: 'delegate_task_async', arguments: { goal: 'hang forever' } }]);
    const taskId = started!.task_id as string;
    await eventually(async () =>
      (await runtime.store.get(taskId))?.status === 'running' ? true : undefined,
    );
    const [collected] = await turn([
      { name: 'collect_task', arguments: { task_id: taskId, timeout_s: 0.3 } },
    ]);
    expect(collected).toMatchObject({ task_id: taskId, status: 'running', timed_out: true });
    const [steered] = await turn([{ name: 'steer_task', arguments: { task_id: taskId, message: 'hurry' } }]);
    expect(steered).toEqual({ task_id: taskId, status: 'steer_queued' });
    const [cancelled] = await turn([{ name: 'cancel_task', arguments: { task_id: taskId } }]);
    expect(cancelled).toEqual({ task_id: taskId, status: 'cancelled' });
    const [steerAfter, cancelAfter] = await turn([
      { name: 'steer_task', arguments: { task_id: taskId, message: 'too late' } },
      { name: 'cancel_task', arguments: { task_id: taskId } },
    ]);
    expect(steerAfter!.error).toMatch(/is cancelled; only tasks that have not finished can be steered/);
    expect(cancelAfter!.error).toMatch(/already cancelled/);
  });

  it('answers unknown ids, other sessions and bad arguments with JSON errors', async () => {
    const [elsewhere] = await turn(
      [{ name: 'delegate_task_async', arguments: { goal: 'delta' } }],
      'test:other:x',
    );
    const foreignId = elsewhere!.task_id as string;
    const results = await turn([
      { name: 'check_task', arguments: { task_id: 't_zzzzzz' } },
      { name: 'steer_task', arguments: { task_id: 't_zzzzzz', message: 'hi' } },
      { name: 'collect_task', arguments: { task_id: foreignId } },
      { name: 'cancel_task', arguments: { task_id: foreignId } },
      { name: 'delegate_task_async', arguments: {} },
      { name: 'delegate_task_async', arguments: { goal: 'x', toolsets: ['nope'] } },
      { name: 'delegate_task_async', arguments: { goal: 'x', route: 'nowhere' } },
      {
        name: 'delegate_task',
        arguments: { tasks: [{ goal: 'a' }, { goal: 'b' }, { goal: 'c' }, { goal: 'd' }] },
      },
      { name: 'delegate_task_async', arguments: '{"goal": "unterminated' },
      { name: 'list_tasks', arguments: { status: 'sleeping' } },
      { name: 'collect_task', arguments: { task_id: foreignId, timeout_s: 5000 } },
    ]);
    const errors = results.map((result) => String(result.error ?? ''));
    expect(errors[0]).toMatch(/no task with id "t_zzzzzz"/);
    expect(errors[1]).toMatch(/no task with id/);
    // An id of another conversation gets the same answer as one that does not exist.
    expect(errors[2]).toBe(errors[0]!.replace('t_zzzzzz', foreignId));
    expect(errors[3]).toBe(errors[2]);
    expect(errors[4]).toMatch(/invalid arguments for delegate_task_async: goal/);
    expect(errors[5]).toMatch(/unknown toolset\(s\): nope/);
    expect(errors[6]).toMatch(/unknown model route "nowhere"/);
    expect(errors[7]).toMatch(/invalid arguments for delegate_task: tasks/);
    expect(errors[8]).toMatch(/not valid JSON/);
    expect(errors[9]).toMatch(/invalid arguments for list_tasks: status/);
    expect(errors[10]).toMatch(/invalid arguments for collect_task: timeout_s/);
    // Nothing was started by the refused calls.
    expect(await runtime.store.listSession('test:c1:th1')).toHaveLength(0);
  });

  it('describes the live limits to the model', () => {
    const definitions = runtime.parentTools().map((tool) => tool.description);
    expect(definitions.join('\n')).toContain('At most 8 tasks may be queued or running');
    expect(definitions.join('\n')).toContain('Run 1 to 3 tasks in parallel');
  });
});
