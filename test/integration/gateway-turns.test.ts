import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import type { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { inboundMessage, startTestGateway } from '../support/gateway-harness.ts';
import { goalOf, messagesOf, turnInputOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

async function newGateway(
  layer: Record<string, unknown>,
): Promise<{ runtime: BatonRuntime; gateway: Gateway; adapter: RecordingAdapter }> {
  const runtime = await startRuntime(buildTestConfig(layer));
  const { gateway, adapter } = await startTestGateway(runtime);
  gateways.push(gateway);
  return { runtime, gateway, adapter };
}

const isParent = (request: RecordedRequest) => goalOf(request) === null;

describe('parent turns', () => {
  it('runs one thread’s turns in arrival order, one at a time, across two gateways', async () => {
    const layer = testConfigLayer(fake);
    const first = await newGateway(layer);
    const second = await newGateway(layer);
    let inFlight = 0;
    let maxInFlight = 0;
    fake.setHandler(async (request) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight -= 1;
      return textReply(`re: ${turnInputOf(request)}`);
    });
    const sent: string[] = [];
    for (let index = 0; index < 20; index += 1) {
      const text = `message ${index}`;
      sent.push(`Ada: ${text}`);
      const gateway = index % 2 === 0 ? first.gateway : second.gateway;
      const outcome = await gateway.onMessage(inboundMessage('ordered', text));
      expect(outcome.accepted).toBe(true);
    }
    await eventually(
      async () =>
        first.adapter.textsIn('ordered').length + second.adapter.textsIn('ordered').length === 20
          ? true
          : undefined,
      30_000,
      'twenty replies',
    );
    const inputs = fake.requests.filter(isParent).map(turnInputOf);
    expect(inputs).toEqual(sent);
    expect(maxInFlight).toBe(1);
    // Each turn saw every earlier exchange in its history.
    const lastRequest = fake.requests.filter(isParent).at(-1)!;
    expect(messagesOf(lastRequest).filter((message) => message.role === 'user')).toHaveLength(20);
  });

  it('runs different threads in parallel', async () => {
    const { gateway } = await newGateway(testConfigLayer(fake));
    const arrivals: Record<string, number> = {};
    const answers: Record<string, number> = {};
    fake.setHandler(async (request) => {
      const input = turnInputOf(request);
      arrivals[input] = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 400));
      answers[input] = Date.now();
      return textReply('ok');
    });
    await gateway.onMessage(inboundMessage('thread-x', 'x'));
    await gateway.onMessage(inboundMessage('thread-y', 'y'));
    await eventually(async () => (Object.keys(answers).length === 2 ? true : undefined), 10_000);
    // y's turn started before x's answer came back: they overlapped.
    expect(arrivals['Ada: y']!).toBeLessThan(answers['Ada: x']!);
  });

  it('reports how many turns are ahead, ignores a duplicated event, and answers in the thread', async () => {
    const { gateway, adapter } = await newGateway(testConfigLayer(fake));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.setHandler(async (request) => {
      if (turnInputOf(request) === 'Ada: first') await gate;
      return textReply(`re: ${turnInputOf(request)}`);
    });
    const first = inboundMessage('busy', 'first');
    expect((await gateway.onMessage(first)).queuedBehind).toBe(0);
    await eventually(async () => (fake.requests.some(isParent) ? true : undefined));
    expect((await gateway.onMessage(inboundMessage('busy', 'second'))).queuedBehind).toBe(1);
    expect((await gateway.onMessage(first)).accepted).toBe(false);
    release();
    await eventually(async () => (adapter.textsIn('busy').length === 2 ? true : undefined));
    expect(adapter.textsIn('busy')).toEqual(['re: Ada: first', 're: Ada: second']);
  });

  it('keeps the parent system prompt byte-identical between calls', async () => {
    const { gateway, adapter } = await newGateway(testConfigLayer(fake));
    fake.setHandler((request) =>
      messagesOf(request).at(-1)?.role === 'user' && turnInputOf(request) === 'Ada: start one'
        ? toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'background thing' } }])
        : textReply('fine'),
    );
    await gateway.onMessage(inboundMessage('stable', 'start one'));
    await gateway.onMessage(inboundMessage('stable', 'and another'));
    await eventually(async () => (adapter.textsIn('stable').length >= 2 ? true : undefined), 10_000);
    const systems = new Set(
      fake.requests.filter(isParent).map((request) => JSON.stringify(messagesOf(request)[0])),
    );
    expect(systems.size).toBe(1);
  });

  it('lets other threads talk while one parent waits in collect_task', async () => {
    const { runtime, gateway, adapter } = await newGateway(testConfigLayer(fake));
    await runtime.startWorker();
    let childId = '';
    fake.setHandler(async (request) => {
      if (goalOf(request) === 'slow child') return new Promise(() => undefined);
      const input = turnInputOf(request);
      const last = messagesOf(request).at(-1);
      if (input === 'Ada: wait for it' && last?.role === 'user') {
        return toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'slow child' } }]);
      }
      if (input === 'Ada: wait for it' && last?.role === 'tool' && !childId) {
        childId = JSON.parse(String(last.content)).task_id;
        return toolCallReply([{ name: 'collect_task', arguments: { task_id: childId, timeout_s: 30 } }]);
      }
      return textReply(`re: ${input}`);
    });
    await gateway.onMessage(inboundMessage('waiting', 'wait for it'));
    await eventually(async () => (childId ? true : undefined), 10_000, 'the collect call');
    await gateway.onMessage(inboundMessage('other', 'hello meanwhile'));
    await eventually(
      async () => (adapter.textsIn('other').length === 1 ? true : undefined),
      10_000,
      'the other reply',
    );
    expect(adapter.textsIn('waiting')).toEqual([]);
    expect((await runtime.store.get(childId))!.status).toBe('running');
  });

  it('runs a command delivered twice with the same event id only once', async () => {
    const { gateway } = await newGateway(testConfigLayer(fake));
    const command = {
      ref: { platform: 'test', channel: 'c1', thread: 'cmd' },
      user: { id: 'u1', name: 'Ada', roleIds: [] },
      text: 'tasks',
      eventId: 'evt-command-1',
    };
    expect((await gateway.onCommand(command)).duplicate).toBeUndefined();
    expect(await gateway.onCommand(command)).toEqual({ text: '', ephemeral: true, duplicate: true });
    expect((await gateway.onCommand({ ...command, eventId: 'evt-command-2' })).duplicate).toBeUndefined();
  });
});
