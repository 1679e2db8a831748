import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/errors.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import { buildTestConfig, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();

async function twoProcesses(quotas: Record<string, unknown>): Promise<[BatonRuntime, BatonRuntime]> {
  const config = buildTestConfig(testConfigLayer(fake, { quotas }));
  return [await startRuntime(config), await startRuntime(config)];
}

function callerOf(user: string, channel: string, thread: string): TaskCaller {
  const base = testCaller(thread);
  return {
    ...base,
    sessionKey: `test:${channel}:${thread}`,
    origin: { ...base.origin, channel, user, userName: user },
    displayName: user,
    // The person acts for themselves: the task they started is theirs to cancel.
    actor: { id: user, name: user, roleIds: [] },
  };
}

async function settle(promises: Promise<unknown>[]) {
  const outcomes = await Promise.allSettled(promises);
  return {
    admitted: outcomes.filter((outcome) => outcome.status === 'fulfilled').length,
    refusals: outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : [])),
  };
}

describe('fair shares of active tasks (quotas.*)', () => {
  it('refuses one person’s flood across 25 threads once they have their share, across processes', async () => {
    const [first, second] = await twoProcesses({ max_active_tasks_per_user: 16 });
    // The flood of the issue: 25 threads, each filled to the per-session limit of 8.
    const flood = Array.from({ length: 25 }, (_, thread) =>
      Array.from({ length: 8 }, (_, index) =>
        (index % 2 === 0 ? first : second).service.dispatch(callerOf('mallory', 'c1', `flood-${thread}`), [
          { goal: `flood ${thread}.${index}` },
        ]),
      ),
    ).flat();
    const { admitted, refusals } = await settle(flood);
    expect(admitted).toBe(16);
    expect(refusals).toHaveLength(200 - 16);
    for (const refusal of refusals) {
      expect(isBatonError(refusal, 'limit_quota')).toBe(true);
      expect((refusal as Error).message).toMatch(
        /mallory already has 16 active task\(s\); at most 16 may be queued or running at once per person/,
      );
    }
    // Someone else is not affected.
    const [other] = await first.service.dispatch(callerOf('ada', 'c1', 'ada-thread'), [
      { goal: 'ada works' },
    ]);
    expect(other?.status).toBe('queued');
    // A finished task gives its slot back.
    const mine = (await first.store.listRecent(500)).find((record) => record.origin.user === 'mallory')!;
    await first.service.cancel(callerOf('mallory', 'c1', mine.sessionKey.split(':')[2]!), mine.id);
    await first.service.dispatch(callerOf('mallory', 'c1', 'flood-0'), [{ goal: 'one more' }]);
    const again = await first.service
      .dispatch(callerOf('mallory', 'c1', 'flood-1'), [{ goal: 'and another' }])
      .catch((error: unknown) => error);
    expect(isBatonError(again, 'limit_quota')).toBe(true);
  });

  it('caps active tasks per channel and overall, and queued tasks, all or nothing per batch', async () => {
    const [runtime] = await twoProcesses({
      max_active_tasks_per_user: null,
      max_active_tasks_per_channel: 3,
      max_active_tasks: 5,
      max_queued_tasks: 4,
    });
    await runtime.service.dispatch(callerOf('a', 'busy', 't1'), [{ goal: '1' }, { goal: '2' }]);
    const batch = await runtime.service
      .dispatch(callerOf('b', 'busy', 't2'), [{ goal: '3' }, { goal: '4' }])
      .catch((error: unknown) => error);
    expect(isBatonError(batch, 'limit_quota')).toBe(true);
    expect((batch as Error).message).toMatch(/this channel already has 2 active task\(s\); at most 3/);
    // Nothing of the refused batch was written.
    expect((await runtime.store.listChannel('test', 'busy')).length).toBe(2);
    await runtime.service.dispatch(callerOf('b', 'quiet', 't3'), [{ goal: '3' }, { goal: '4' }]);
    const queued = await runtime.service
      .dispatch(callerOf('c', 'other', 't4'), [{ goal: '5' }])
      .catch((error: unknown) => error);
    expect((queued as Error).message).toMatch(
      /already has 4 queued task\(s\); at most 4 may be queued at once/,
    );
    // Running tasks leave the queued count but still count as active.
    const [first] = await runtime.store.listChannel('test', 'busy');
    expect((await runtime.store.claim(first!.id, 'runner-1')).outcome).toBe('ok');
    await runtime.service.dispatch(callerOf('c', 'other', 't4'), [{ goal: '5' }]);
    const total = await runtime.service
      .dispatch(callerOf('d', 'more', 't5'), [{ goal: '6' }])
      .catch((error: unknown) => error);
    expect((total as Error).message).toMatch(/Baton already has 5 active task\(s\); at most 5/);
  });
});
