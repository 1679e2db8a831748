import { describe, expect, it } from 'vitest';
import { hangReply, textReply } from '../fakes/fake-openai-server.ts';
import { RecordingAdapter, retryableFailure } from '../fakes/recording-adapter.ts';
import { eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { resultPosts, useTestGateways } from '../support/gateway-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
const { newRuntime, newGateway, forget } = useTestGateways({ redis, fake });

describe('delivery of task results', () => {
  it('posts a completed result once in its thread and adds it to the parent history', async () => {
    const runtime = await newRuntime(testConfigLayer(fake));
    const { gateway, adapter } = await newGateway(runtime);
    fake.setHandler(scriptByGoal({ 'find the answer': () => textReply('The answer is 42.') }));
    const [task] = await runtime.service.dispatch(testCaller('results'), [{ goal: 'find the answer' }]);
    await eventually(async () => (resultPosts(adapter, 'results').length === 1 ? true : undefined), 15_000);
    expect(resultPosts(adapter, 'results')[0]).toContain(`✅ **Task ${task!.id} completed**`);
    expect(resultPosts(adapter, 'results')[0]).toContain('The answer is 42.');
    const history = await gateway.history.load('test:c1:results');
    expect(history.map((message) => message.content)).toEqual([
      expect.stringContaining(`[Background task ${task!.id} completed]`),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(resultPosts(adapter, 'results')).toHaveLength(1);
  });

  it('reports failed and cancelled tasks with their reason', async () => {
    const runtime = await newRuntime(testConfigLayer(fake, { models: { max_retries: 0 } }));
    const { adapter } = await newGateway(runtime);
    fake.setHandler(
      scriptByGoal({
        'will fail': () => ({ kind: 'error', status: 400 }),
        'will be cancelled': () => hangReply(),
      }),
    );
    const [failing, cancelled] = await runtime.service.dispatch(testCaller('bad-news'), [
      { goal: 'will fail' },
      { goal: 'will be cancelled' },
    ]);
    await eventually(async () =>
      fake.requests.some((request) => goalOf(request) === 'will be cancelled') ? true : undefined,
    );
    await runtime.service.cancel(testCaller('bad-news'), cancelled!.id);
    await eventually(async () => (resultPosts(adapter, 'bad-news').length === 2 ? true : undefined), 15_000);
    const texts = resultPosts(adapter, 'bad-news').join('\n');
    expect(texts).toContain(`❌ **Task ${failing!.id} failed**`);
    expect(texts).toContain(`⏹️ **Task ${cancelled!.id} was cancelled**`);
  });

  it('retries a post that fails three times, honouring retry-after, and posts it once', async () => {
    const runtime = await newRuntime(testConfigLayer(fake));
    const adapter = new RecordingAdapter();
    let failures = 0;
    adapter.fault = ({ message }) => {
      if (message.kind === 'text' && message.text.includes('**Task t_') && failures < 3) {
        failures += 1;
        return retryableFailure(100);
      }
      return undefined;
    };
    await newGateway(runtime, adapter);
    fake.setHandler(scriptByGoal({ 'flaky platform': () => textReply('made it through') }));
    await runtime.service.dispatch(testCaller('flaky'), [{ goal: 'flaky platform' }]);
    await eventually(async () => (resultPosts(adapter, 'flaky').length === 1 ? true : undefined), 20_000);
    expect(failures).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(resultPosts(adapter, 'flaky')).toHaveLength(1);
  });

  it('resumes a 3-chunk result after the gateway died past chunk 1, without repeating it', async () => {
    const layer = testConfigLayer(fake);
    const workerRuntime = await newRuntime(layer);
    const dyingRuntime = await newRuntime(layer, false);
    const dying = new RecordingAdapter();
    // Chunk 2 never completes: the gateway "dies" holding the delivery.
    dying.fault = ({ message }) =>
      message.kind === 'text' && message.text.includes('PART-2') ? 'hang' : undefined;
    const { gateway: dyingGateway } = await newGateway(dyingRuntime, dying);
    const long = ['PART-1', 'PART-2', 'PART-3'].map((part) => `${part} ${'x'.repeat(1700)}`).join('\n\n');
    fake.setHandler(scriptByGoal({ 'long report': () => textReply(long) }));
    await workerRuntime.service.dispatch(testCaller('long'), [{ goal: 'long report' }]);
    await eventually(async () => (dying.textsIn('long').length === 1 ? true : undefined), 15_000);
    // Kill: every connection of the dying gateway goes at once, as when its process is SIGKILLed.
    dyingRuntime.killConnections();
    // A dead process is not stopped gracefully; leave it out of the teardown.
    forget(dyingRuntime, dyingGateway);
    const survivor = new RecordingAdapter();
    await newGateway(await newRuntime(layer, false), survivor);
    await eventually(
      async () => (survivor.textsIn('long').length === 2 ? true : undefined),
      30_000,
      'chunks 2-3',
    );
    expect(dying.textsIn('long')[0]).toContain('PART-1');
    expect(survivor.textsIn('long')[0]).toContain('PART-2');
    expect(survivor.textsIn('long')[1]).toContain('PART-3');
    expect(survivor.textsIn('long').some((text) => text.includes('PART-1'))).toBe(false);
  });

  it('gives the parent a turn to write the reply when delegation.announce is parent', async () => {
    const runtime = await newRuntime(testConfigLayer(fake, { delegation: { announce: 'parent' } }));
    const { adapter } = await newGateway(runtime);
    fake.setHandler(
      scriptByGoal({ 'quiet work': () => textReply('quiet result') }, (request) =>
        textReply(`parent saw: ${String(messagesOf(request).at(-1)?.content).split('\n')[0]}`),
      ),
    );
    const [task] = await runtime.service.dispatch(testCaller('announce'), [{ goal: 'quiet work' }]);
    await eventually(async () => (adapter.textsIn('announce').length === 1 ? true : undefined), 15_000);
    expect(adapter.textsIn('announce')[0]).toBe(
      `parent saw: [Background task ${task!.id} completed] Goal: quiet work`,
    );
    // The mark that the turn was queued expires like every delivery's progress.
    expect(await redis.client.ttl(runtime.keys.delivery(task!.id))).toBeGreaterThan(0);
  });
});
