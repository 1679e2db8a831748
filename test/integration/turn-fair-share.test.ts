import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import type { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { inboundMessage, startTestGateway } from '../support/gateway-harness.ts';
import { goalOf, messagesOf, scriptByGoal, turnInputOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

async function gatewayWith(overrides: Record<string, unknown>): Promise<RecordingAdapter> {
  const runtime = await startRuntime(buildTestConfig(testConfigLayer(fake, overrides)));
  await runtime.startWorker();
  const { gateway, adapter } = await startTestGateway(runtime);
  gateways.push(gateway);
  return adapter;
}

/**
 * The parent: "wait for X" makes it call delegate_task on a child whose goal is X; "start X then collect"
 * starts X with delegate_task_async and then waits for it with collect_task; anything else is answered at
 * once. After its tools it answers with what they returned.
 */
const collectAsked = deferred();

function parentScript(request: RecordedRequest) {
  const last = messagesOf(request).at(-1)!;
  const input = turnInputOf(request);
  if (last.role === 'tool') {
    const id = (JSON.parse(String(last.content)) as { task_id?: string }).task_id;
    if (/then collect/.test(input) && id && !JSON.stringify(messagesOf(request)).includes('call_collect')) {
      collectAsked.resolve();
      return toolCallReply([{ name: 'collect_task', arguments: { task_id: id }, id: 'call_collect' }]);
    }
    return textReply(`finished: ${input}`);
  }
  const waitFor = /wait for (\w+)/.exec(input);
  if (waitFor) {
    return toolCallReply([
      { name: 'delegate_task', arguments: { tasks: [{ goal: waitFor[1] }] }, id: `call_${waitFor[1]}` },
    ]);
  }
  const collect = /start (\w+) then collect/.exec(input);
  if (collect) {
    return toolCallReply([
      { name: 'delegate_task_async', arguments: { goal: collect[1] }, id: `call_${collect[1]}` },
    ]);
  }
  return textReply(`quick answer to ${input}`);
}

describe('fair shares of parent turns', () => {
  it('answers a third person while two turns wait on long children (max_concurrent_turns: 2)', async () => {
    const adapter = await gatewayWith({ gateway: { max_concurrent_turns: 2 } });
    const childrenMayEnd = deferred();
    const longChild = async () => {
      await childrenMayEnd.promise;
      return textReply('long work done');
    };
    fake.setHandler(scriptByGoal({ alpha: longChild, beta: longChild }, parentScript));
    await adapter.sink!.onMessage(inboundMessage('thread-a', 'wait for alpha', 'u1'));
    await adapter.sink!.onMessage(inboundMessage('thread-b', 'start beta then collect', 'u2'));
    // Both turns are blocked on their children: delegate_task in one, collect_task in the other.
    await collectAsked.promise;
    await eventually(
      async () => (fake.requests.some((request) => goalOf(request) === 'alpha') ? true : undefined),
      20_000,
      'child alpha at work',
    );
    await adapter.sink!.onMessage(inboundMessage('thread-c', 'hello', 'u3'));
    const answered = await eventually(
      async () => adapter.textsIn('thread-c').find((text) => text.includes('quick answer')),
      15_000,
      'the third person’s answer while the others wait',
    );
    expect(answered).toContain('u3: hello');
    // The waiting turns were not answered yet; once their children end, both are.
    expect(adapter.textsIn('thread-a').some((text) => text.startsWith('finished'))).toBe(false);
    childrenMayEnd.resolve();
    for (const thread of ['thread-a', 'thread-b']) {
      await eventually(
        async () => adapter.textsIn(thread).find((text) => text.startsWith('finished')),
        20_000,
        `the waiting turn of ${thread}`,
      );
    }
  });

  it('refuses a person’s turn beyond quotas.max_turns_per_user, and answers others', async () => {
    const adapter = await gatewayWith({ quotas: { max_turns_per_user: 1 } });
    const childMayEnd = deferred();
    fake.setHandler(
      scriptByGoal(
        {
          gamma: async () => {
            await childMayEnd.promise;
            return textReply('gamma done');
          },
        },
        parentScript,
      ),
    );
    await adapter.sink!.onMessage(inboundMessage('thread-d', 'wait for gamma', 'u1'));
    await fake.waitForRequests(2, 20_000);
    await adapter.sink!.onMessage(inboundMessage('thread-e', 'anything new?', 'u1'));
    const refusal = await eventually(async () => adapter.textsIn('thread-e')[0], 15_000, 'the refusal');
    expect(refusal).toMatch(/you already have 1 turn\(s\) in progress; at most 1 per person at once/);
    await adapter.sink!.onMessage(inboundMessage('thread-e', 'my turn', 'u4'));
    await eventually(
      async () => adapter.textsIn('thread-e').find((text) => text.includes('quick answer to u4: my turn')),
      15_000,
      'another person’s answer',
    );
    childMayEnd.resolve();
    await eventually(
      async () => adapter.textsIn('thread-d').find((text) => text.startsWith('finished')),
      20_000,
      'the waiting turn',
    );
    // Once that turn is over, the person may start another.
    await adapter.sink!.onMessage(inboundMessage('thread-e', 'again', 'u1'));
    await eventually(
      async () => adapter.textsIn('thread-e').find((text) => text.includes('quick answer to Ada: again')),
      15_000,
      'the person’s next turn',
    );
  });
});
