import { afterEach, describe, expect, it } from 'vitest';
import { sessionKeyOf } from '../../src/gateway/chat-adapter.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { parentSystemPrompt } from '../../src/gateway/parent-agent.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import type { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { inboundMessage, startTestGateway } from '../support/gateway-harness.ts';
import { goalOf, messagesOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

async function newGateway(): Promise<{ runtime: BatonRuntime; gateway: Gateway; adapter: RecordingAdapter }> {
  const runtime = await startRuntime(buildTestConfig(testConfigLayer(fake)));
  const { gateway, adapter } = await startTestGateway(runtime);
  gateways.push(gateway);
  return { runtime, gateway, adapter };
}

/**
 * A parent turn's checkpoint exactly as the code before versioned state wrote it (no `version`; fields in
 * the order ParentAgent's save() built them): one finished step that called list_tasks.
 */
function checkpointBeforeVersions(turnId: string, input: string): string {
  return JSON.stringify({
    turnId,
    messages: [
      { role: 'system', content: parentSystemPrompt },
      { role: 'user', content: input },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_before_upgrade', type: 'function', function: { name: 'list_tasks', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_before_upgrade', content: '{"tasks":[]}' },
    ],
    steps: 1,
    usage: { prompt_tokens: 120, completion_tokens: 8, total_tokens: 128 },
    firstNew: 1,
  });
}

describe('versioned session state', () => {
  it('resumes a parent turn from a checkpoint written before checkpoints had a version', async () => {
    const { runtime, gateway, adapter } = await newGateway();
    fake.setHandler(async () => textReply('no tasks running'));
    const before = fake.requests.length;
    const message = inboundMessage('upgraded', 'anything running?');
    const sessionKey = sessionKeyOf(message.ref);
    await runtime.redis.set(
      runtime.keys.sessionTurnCheckpoint(sessionKey),
      checkpointBeforeVersions(`message-${message.eventId}`, 'Ada: anything running?'),
    );
    await gateway.onMessage(message);
    await eventually(async () => (adapter.textsIn('upgraded').length > 0 ? true : undefined), 20_000);
    expect(adapter.textsIn('upgraded')).toEqual(['no tasks running']);
    // One model call, continuing after the saved tool result: the finished step was not redone.
    const parentCalls = fake.requests.slice(before).filter((request) => goalOf(request) === null);
    expect(parentCalls).toHaveLength(1);
    expect(messagesOf(parentCalls[0]!).map((entry) => entry.role)).toEqual([
      'system',
      'user',
      'assistant',
      'tool',
    ]);
    // The history holds the whole turn, the step from before the upgrade included.
    const history = await gateway.history.load(sessionKey);
    expect(history.map((entry) => entry.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    const checkpointKey = runtime.keys.sessionTurnCheckpoint(sessionKey);
    await eventually(
      async () => ((await runtime.redis.exists(checkpointKey)) === 0 ? true : undefined),
      20_000,
    );
  });

  it('starts a turn afresh when its checkpoint fails validation, instead of failing it', async () => {
    const { runtime, gateway, adapter } = await newGateway();
    fake.setHandler(async () => textReply('fresh answer'));
    const before = fake.requests.length;
    for (const [thread, stored] of [
      ['not-json', '{"turnId": "message-'],
      ['wrong-shape', JSON.stringify({ turnId: 'x', messages: 'not a list', steps: -1 })],
    ] as const) {
      const message = inboundMessage(thread, 'hello');
      const turnId = `message-${message.eventId}`;
      const raw = thread === 'wrong-shape' ? stored.replace('"x"', JSON.stringify(turnId)) : stored;
      await runtime.redis.set(runtime.keys.sessionTurnCheckpoint(sessionKeyOf(message.ref)), raw);
      await gateway.onMessage(message);
      await eventually(async () => (adapter.textsIn(thread).length > 0 ? true : undefined), 20_000);
      expect(adapter.textsIn(thread)).toEqual(['fresh answer']);
    }
    const parentCalls = fake.requests.slice(before).filter((request) => goalOf(request) === null);
    expect(parentCalls).toHaveLength(2);
    for (const call of parentCalls)
      expect(messagesOf(call).map((entry) => entry.role)).toEqual(['system', 'user']);
  });

  it('writes a version into every checkpoint and history item it stores', async () => {
    const { runtime, gateway, adapter } = await newGateway();
    let checkpoint: string | null = null;
    const message = inboundMessage('versioned', 'hi');
    const sessionKey = sessionKeyOf(message.ref);
    let calls = 0;
    fake.setHandler(async () => {
      calls += 1;
      if (calls === 1) return toolCallReply([{ id: 'call_1', name: 'list_tasks', arguments: '{}' }]);
      // The turn saved its first step before asking again: read it while the turn is in flight.
      checkpoint = await runtime.redis.get(runtime.keys.sessionTurnCheckpoint(sessionKey));
      return textReply('hello');
    });
    await gateway.onMessage(message);
    await eventually(async () => (adapter.textsIn('versioned').length > 0 ? true : undefined), 20_000);
    const stored = await runtime.redis.lrange(runtime.keys.sessionHistory(sessionKey), 0, -1);
    expect(stored.map((entry) => JSON.parse(entry).version)).toEqual([1, 1, 1, 1]);
    expect(JSON.parse(checkpoint ?? 'null')).toMatchObject({ version: 1, steps: 1 });
  });
});
