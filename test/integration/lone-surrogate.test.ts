import { beforeEach, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { runParentTurn } from '../support/parent-turn.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;

beforeEach(async () => {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake)));
});

// "\ud800" is valid JSON and arrives from chat payloads and model output alike; Redis's Lua JSON decoder
// refused it ("invalid unicode escape") and the whole delegation failed.
describe('a lone surrogate in a task', () => {
  it('is stored as U+FFFD instead of breaking the dispatch', async () => {
    const caller = testCaller();
    const [record] = await runtime.service.dispatch(
      { ...caller, origin: { ...caller.origin, userName: 'Ada \udc00' } },
      [{ goal: 'check the logs \ud800 now', context: 'from \udfff chat' }],
    );
    expect(record!.goal).toBe('check the logs \ufffd now');
    const stored = await runtime.store.get(record!.id);
    expect(stored).toMatchObject({ goal: 'check the logs \ufffd now', context: 'from \ufffd chat' });
    expect(stored!.origin.userName).toBe('Ada \ufffd');
  });

  it('in a goal the model wrote, still starts the task', async () => {
    fake.setHandler(() => textReply('unused'));
    const [result] = await runParentTurn(runtime, fake, [
      { name: 'delegate_task_async', arguments: { goal: 'summarise \ud800 this' } },
    ]);
    expect(result).toEqual({ task_id: expect.stringMatching(/^t_/), status: 'queued' });
    expect((await runtime.store.get(result!.task_id as string))!.goal).toBe('summarise \ufffd this');
  });

  it('in a steering message, reaches the inbox well-formed', async () => {
    const caller = testCaller('th-steer');
    const [record] = await runtime.service.dispatch(caller, [{ goal: 'wait for steering' }]);
    await runtime.service.steer(caller, record!.id, 'focus \ud800 here');
    const [message] = await runtime.store.readInbox(record!.id, '0');
    expect(message!.text).toBe('focus \ufffd here');
  });
});
