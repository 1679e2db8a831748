import { beforeAll, describe, expect, it } from 'vitest';
import { executeToolCall } from '../../src/agent/execute-tool-call.ts';
import { isBatonError } from '../../src/errors.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { buildTestConfig, parentContext, testConfigLayer } from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
let first: BatonRuntime;
let second: BatonRuntime;

beforeAll(async () => {
  const config = buildTestConfig(testConfigLayer(fake));
  // Two runtimes with their own connections stand for two gateway processes on one Redis.
  first = await startRuntime(config);
  second = await startRuntime(config);
});

function callTool(runtime: BatonRuntime, name: string, input: unknown, sessionKey: string) {
  const tools = new Map(runtime.parentTools().map((tool) => [tool.name, tool]));
  return executeToolCall(
    { id: `call_${Math.random()}`, type: 'function', function: { name, arguments: JSON.stringify(input) } },
    tools,
    parentContext(sessionKey),
    10_000,
  );
}

describe('limits enforced atomically across processes', () => {
  it('accepts exactly 8 of 50 concurrent delegate_task_async calls', async () => {
    const sessionKey = 'test:limits:fifty';
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        callTool(
          index % 2 === 0 ? first : second,
          'delegate_task_async',
          { goal: `job ${index}` },
          sessionKey,
        ),
      ),
    );
    const accepted = outcomes.filter((outcome) => outcome.ok);
    const refused = outcomes.filter((outcome) => !outcome.ok);
    expect(accepted).toHaveLength(8);
    expect(refused).toHaveLength(42);
    for (const outcome of refused) {
      expect(JSON.parse(outcome.content).error).toMatch(/at most 8 may be queued or running at once/);
    }
    expect(await first.store.activeCount(sessionKey)).toBe(8);
    expect(await first.store.listSession(sessionKey)).toHaveLength(8);
  });

  it('refuses a whole batch that would pass the limit, starting none of it', async () => {
    const sessionKey = 'test:limits:batch';
    const caller = { ...parentContext(sessionKey), displayName: 'Ada' };
    await first.service.dispatch(caller, [
      { goal: 'a' },
      { goal: 'b' },
      { goal: 'c' },
      { goal: 'd' },
      { goal: 'e' },
    ]);
    const refusal = await first.service
      .dispatch(caller, [{ goal: 'f' }, { goal: 'g' }, { goal: 'h' }, { goal: 'i' }])
      .catch((error: unknown) => error);
    expect(isBatonError(refusal, 'limit_concurrent_children')).toBe(true);
    expect(await first.store.listSession(sessionKey)).toHaveLength(5);
  });

  it('refuses batches larger than delegation.max_batch_size', async () => {
    const caller = { ...parentContext('test:limits:size'), displayName: 'Ada' };
    const tasks = Array.from({ length: 6 }, (_, index) => ({ goal: `g${index}` }));
    const refusal = await first.service.dispatch(caller, tasks).catch((error: unknown) => error);
    expect(isBatonError(refusal, 'limit_batch_size')).toBe(true);
    expect((refusal as Error).message).toMatch(/at most 5 tasks per call/);
  });

  it('refuses delegation beyond delegation.max_spawn_depth', async () => {
    const sessionKey = 'test:limits:depth';
    const caller = { ...parentContext(sessionKey), displayName: 'Ada' };
    const [child] = await first.service.dispatch(caller, [{ goal: 'leaf child' }]);
    // A child at depth 1 with the default flat depth of 1 gets no delegation tools at all (only ask_user)...
    const childRecord = (await first.store.get(child!.id))!;
    expect(first.toolsFor(childRecord).map((tool) => tool.name)).toEqual(['ask_user']);
    // ...and a dispatch on its behalf is refused.
    const refusal = await first.service
      .dispatch({ ...caller, callerTaskId: child!.id, depth: 1 }, [{ goal: 'grandchild' }])
      .catch((error: unknown) => error);
    expect(isBatonError(refusal, 'limit_spawn_depth')).toBe(true);
    const orchestrator = await first.service
      .dispatch(caller, [{ goal: 'wants to orchestrate', role: 'orchestrator' }])
      .catch((error: unknown) => error);
    expect(isBatonError(orchestrator, 'limit_spawn_depth')).toBe(true);
  });
});
