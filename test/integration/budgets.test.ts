import { afterEach, describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/errors.ts';
import { resultMessageText } from '../../src/gateway/delivery/result-text.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { scopeNames } from '../../src/usage/usage-ledger.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { inboundMessage, startTestGateway } from '../support/gateway-harness.ts';
import { goalOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

const price = { input: 2, cached_input: 0.5, output: 8 };

describe('daily budgets and usage accounting', () => {
  it('stops a task that spends its owner’s budget mid-way, reporting its partial work', async () => {
    const runtime = await startRuntime(
      buildTestConfig(
        testConfigLayer(fake, {
          models: { routes: { default: { price } } },
          quotas: { daily_tokens_per_user: 1000 },
        }),
      ),
    );
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        // The first step costs 1,100 tokens: over Ada's budget of 1,000 before the second model call.
        'long research': () =>
          toolCallReply([{ name: 'search_more', arguments: {} }], {
            content: 'Found so far: the answer starts with 42.',
            usage: { prompt_tokens: 900, cached_tokens: 400, completion_tokens: 200 },
          }),
      }),
    );
    const caller = testCaller('budget-thread');
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'long research' }]);
    const { records } = await runtime.service.waitForEnd([task!.id], 20_000);
    const ended = records[0]!;
    expect(ended.status).toBe('failed');
    expect(ended.error).toMatch(
      /^budget_exhausted: Ada's daily token budget is spent \(1100 of 1000 tokens today/,
    );
    expect(ended.error).toContain('Found so far: the answer starts with 42.');
    expect(ended.summary).toBe('Found so far: the answer starts with 42.');
    // No second model call was made for it.
    expect(fake.requests.filter((request) => goalOf(request) === 'long research')).toHaveLength(1);
    // The result posted in the thread says why, and what it had.
    const posted = resultMessageText(ended, null);
    expect(posted).toMatch(/budget exhausted/i);
    expect(posted).toContain('the answer starts with 42');

    // Counted per person, channel, task and route, priced with cached input apart: 500 input at 2, 400
    // cached at 0.5 and 200 output at 8 per million.
    for (const scope of [
      scopeNames.user('test', 'u1'),
      scopeNames.channel('test', 'c1'),
      scopeNames.task(task!.id),
      scopeNames.route('default'),
    ]) {
      const total = await runtime.usage.total(scope, 30);
      expect(total).toMatchObject({ input: 500, cached: 400, output: 200, calls: 1 });
      expect(total.cost).toBeCloseTo(0.0028, 10);
    }

    // A new task of Ada's is refused at once; someone else's is admitted.
    const refusal = await runtime.service
      .dispatch(caller, [{ goal: 'more' }])
      .catch((error: unknown) => error);
    expect(isBatonError(refusal, 'budget_exhausted')).toBe(true);
    const other = {
      ...caller,
      origin: { ...caller.origin, user: 'u2', userName: 'Bo' },
      sessionKey: 'test:c1:bo',
    };
    fake.setHandler(scriptByGoal({ 'bo asks': () => textReply('done') }));
    const [admitted] = await runtime.service.dispatch(other, [{ goal: 'bo asks' }]);
    expect(admitted?.status).toBe('queued');
  });

  it('refuses work once a channel’s daily cost budget is spent', async () => {
    const runtime = await startRuntime(
      buildTestConfig(
        testConfigLayer(fake, {
          models: { routes: { default: { price: { input: 1000, output: 1000 } } } },
          quotas: { daily_cost_per_channel: 0.5 },
        }),
      ),
    );
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        costly: () => textReply('done', { usage: { prompt_tokens: 400, completion_tokens: 200 } }),
      }),
    );
    const [task] = await runtime.service.dispatch(testCaller('cost-1'), [{ goal: 'costly' }]);
    const { records } = await runtime.service.waitForEnd([task!.id], 20_000);
    expect(records[0]!.status).toBe('completed');
    const refusal = await runtime.service
      .dispatch({ ...testCaller('cost-2'), origin: { ...testCaller('cost-2').origin, user: 'u9' } }, [
        { goal: 'x' },
      ])
      .catch((error: unknown) => error);
    expect(isBatonError(refusal, 'budget_exhausted')).toBe(true);
    expect((refusal as Error).message).toMatch(
      /this channel's daily cost budget is spent \(0\.6000 of 0\.5 today/,
    );
  });

  it('answers a parent turn over its person’s budget with the reason, without calling the model', async () => {
    const runtime = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { quotas: { daily_tokens_per_user: 500 } })),
    );
    const { gateway, adapter } = await startTestGateway(runtime);
    gateways.push(gateway);
    fake.setHandler(() => textReply('hello', { usage: { prompt_tokens: 450, completion_tokens: 100 } }));
    await gateway.onMessage(inboundMessage('over-budget', 'first'));
    await eventually(async () => adapter.textsIn('over-budget')[0], 15_000, 'the first reply');
    const calls = fake.requests.length;
    await gateway.onMessage(inboundMessage('over-budget', 'second'));
    const refusal = await eventually(async () => adapter.textsIn('over-budget')[1], 15_000, 'the refusal');
    expect(refusal).toMatch(/budget_exhausted: Ada's daily token budget is spent \(550 of 500 tokens today/);
    expect(fake.requests.length).toBe(calls);
  });
});
