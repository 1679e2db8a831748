import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import type { TaskPromptState, TaskRecord } from '../../src/tasks/task-record.ts';
import { TaskStore } from '../../src/tasks/task-store.ts';
import { testOrigin } from '../support/baton-harness.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

/*
 * The scripts behind parking (lua/park-task.lua, lua/settle-prompt.lua, the round check of claim-tasks.lua):
 * every refusal changes nothing.
 */
const redis = useTestRedis();
const sessionKey = 'test:c1:park';

function newStore(): TaskStore {
  return new TaskStore({
    redis: redis.client,
    keys: new RedisKeys(uniquePrefix('park')),
    maxEventsPerTask: 100,
  });
}

async function runningTask(store: TaskStore, token = 'runner-1'): Promise<TaskRecord> {
  const { records } = await store.admit({
    sessionKey,
    origin: testOrigin,
    parent: null,
    tasks: [{ goal: 'ask', context: '', toolsets: [], route: 'default', role: 'leaf' }],
    maxActiveTasksPerConversation: 10,
  });
  const claim = await store.claim(records[0]!.id, token);
  expect(claim.outcome).toBe('ok');
  return records[0]!;
}

function prompt(round: number): TaskPromptState {
  const now = Date.now();
  return {
    round,
    kind: 'question',
    callId: 'call_1',
    text: 'Q?',
    choices: [],
    askedAt: now,
    expiresAt: now + 60_000,
  };
}

describe('parking scripts', () => {
  it('parks only for the runner holding the task, within the cap, and leaves the active counts', async () => {
    const store = newStore();
    const task = await runningTask(store);
    expect(await store.activeCount(sessionKey)).toBe(1);
    expect((await store.park(task, 'someone-else', 'waiting_input', prompt(1), 5, 'asked')).outcome).toBe(
      'lost',
    );
    expect((await store.park(task, 'runner-1', 'waiting_input', prompt(1), 1, 'asked')).outcome).toBe('ok');
    const parked = (await store.get(task.id))!;
    expect(parked).toMatchObject({ status: 'waiting_input', prompt: { round: 1 } });
    expect(await store.isHeldByRunner(task.id)).toBe(false);
    expect(await store.activeCount(sessionKey)).toBe(0);
    expect(await store.parkedCount(sessionKey)).toBe(1);
    // A second running task of the session meets the cap of 1.
    const other = await runningTask(store, 'runner-2');
    expect(await store.park(other, 'runner-2', 'waiting_input', prompt(1), 1, 'asked')).toEqual({
      outcome: 'over_parked',
      detail: '1',
    });
    expect((await store.get(other.id))!.status).toBe('running');
    // Parked twice is refused: it is no longer running.
    expect((await store.park(task, 'runner-1', 'waiting_input', prompt(2), 5, 'asked')).outcome).toBe(
      'refused',
    );
  });

  it('settles only the round waited on, once, and only a job of that round claims the task', async () => {
    const store = newStore();
    const task = await runningTask(store);
    await store.park(task, 'runner-1', 'waiting_approval', { ...prompt(1), kind: 'approval' }, 5, 'asked');
    const response = { round: 1, kind: 'approval' as const, approved: true, by: 'Ada', at: Date.now() };
    const event = { type: 'approval-decided' as const, text: 'approved' };
    // Claims while parked, by the task's first job or by its resume job, are refused.
    expect((await store.claim(task.id, 'runner-3')).outcome).toBe('parked');
    expect((await store.claim(task.id, 'runner-3', { round: 1 })).outcome).toBe('parked');
    expect(
      (await store.settlePrompt(task, 'waiting_input', { ...response, kind: 'question' }, event)).outcome,
    ).toBe('refused');
    expect(
      (await store.settlePrompt(task, 'waiting_approval', { ...response, round: 2 }, event)).outcome,
    ).toBe('stale');
    expect((await store.get(task.id))!.status).toBe('waiting_approval');
    expect((await store.settlePrompt(task, 'waiting_approval', response, event)).outcome).toBe('ok');
    expect((await store.settlePrompt(task, 'waiting_approval', response, event)).outcome).toBe('refused');
    const queued = (await store.get(task.id))!;
    expect(queued).toMatchObject({ status: 'queued', promptResponse: { approved: true, by: 'Ada' } });
    expect(queued.parkedMs).toBeGreaterThanOrEqual(0);
    expect(await store.activeCount(sessionKey)).toBe(1);
    expect(await store.parkedCount(sessionKey)).toBe(0);
    // The first job (no round) and a job of another round are stale; the resume job of round 1 claims it.
    expect((await store.claim(task.id, 'runner-3')).outcome).toBe('stale');
    expect((await store.claim(task.id, 'runner-3', { round: 2 })).outcome).toBe('stale');
    const claim = await store.claim(task.id, 'runner-3', { round: 1, firstStepEvent: 'step 1' });
    expect(claim).toMatchObject({ outcome: 'ok', previous: 'queued', firstStepRecorded: false });
  });

  it('a cancelled parked task leaves the parked set', async () => {
    const store = newStore();
    const task = await runningTask(store);
    await store.park(task, 'runner-1', 'waiting_input', prompt(1), 5, 'asked');
    expect((await store.transition(task, 'cancelled')).outcome).toBe('ok');
    expect(await store.parkedCount(sessionKey)).toBe(0);
    expect(await store.activeCount(sessionKey)).toBe(0);
  });
});
