import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { streamingCursor } from '../../src/gateway/message-stream.ts';
import { errorReply, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import type { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { inboundMessage, startTestGateway } from '../support/gateway-harness.ts';
import { messagesOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/** The gateway's streamed parent replies on a recording adapter: what is posted and edited, in order. */

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

async function newGateway(overrides: Record<string, unknown> = {}) {
  const runtime = await startRuntime(
    buildTestConfig(
      testConfigLayer(fake, { gateway: { stream_replies: true, stream_interval_ms: 100, ...overrides } }),
    ),
  );
  const { gateway, adapter } = await startTestGateway(runtime);
  gateways.push(gateway);
  return { gateway, adapter };
}

/** What the thread shows now: each posted message with its latest edit applied. */
function shownIn(adapter: RecordingAdapter, thread: string): string[] {
  return adapter.posts
    .filter((post) => post.ref.thread === thread && post.message.kind === 'text')
    .map((post) => {
      const last = adapter.edits.filter((edit) => edit.messageId === post.messageId).at(-1) ?? post;
      return last.message.kind === 'text' ? last.message.text : '';
    });
}

const slowly = { streamPieceChars: 6, streamIntervalMs: 25 };
const answer = `The answer: ${Array.from({ length: 40 }, (_, index) => `part${index}`).join(' ')}.`;

describe('streamed parent replies through the gateway', () => {
  it('streams into one message and ends with the exact reply; a preamble before tool calls is replaced', async () => {
    const { gateway, adapter } = await newGateway();
    fake.setHandler((request) =>
      messagesOf(request).at(-1)?.role === 'tool'
        ? textReply(answer, slowly)
        : toolCallReply([{ name: 'list_tasks', arguments: {} }], {
            content: 'Let me look at the tasks first, one moment please. ',
            ...slowly,
          }),
    );
    await gateway.onMessage(inboundMessage('streamed', 'what runs?'));
    await eventually(async () => (shownIn(adapter, 'streamed').includes(answer) ? true : undefined), 30_000);
    expect(shownIn(adapter, 'streamed')).toEqual([answer]);
    const edits = adapter.edits.map((edit) => (edit.message.kind === 'text' ? edit.message.text : ''));
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits.slice(0, -1).every((text) => text.endsWith(streamingCursor))).toBe(true);
    expect(edits.some((text) => text.startsWith('Let me look'))).toBe(true);
  });

  it('replaces a half-streamed reply with the error when the turn fails: no half message left as final', async () => {
    const { gateway, adapter } = await newGateway();
    fake.setHandler((request) =>
      messagesOf(request).at(-1)?.role === 'tool'
        ? errorReply(400, { message: 'the model refused the request' })
        : toolCallReply([{ name: 'list_tasks', arguments: {} }], {
            content: 'Working on it, this sentence streams before the failure. ',
            ...slowly,
          }),
    );
    await gateway.onMessage(inboundMessage('failing', 'try this'));
    await eventually(
      async () => (shownIn(adapter, 'failing').some((text) => text.startsWith('⚠️')) ? true : undefined),
      30_000,
    );
    const shown = shownIn(adapter, 'failing');
    expect(shown).toHaveLength(1);
    // The message was a stream in progress (with its cursor) before the error replaced it.
    const first = adapter.posts.find((post) => post.ref.thread === 'failing')!;
    expect(first.message.kind === 'text' && first.message.text.endsWith(streamingCursor)).toBe(true);
    expect(shown[0]).toMatch(/^⚠️ I couldn't finish that turn: /);
    expect(shown[0]).not.toContain(streamingCursor);
  });

  it('posts each reply once, complete, with gateway.stream_replies off', async () => {
    const { gateway, adapter } = await newGateway({ stream_replies: false });
    fake.setHandler(() => textReply(answer, slowly));
    await gateway.onMessage(inboundMessage('unstreamed', 'hello'));
    await eventually(async () => (adapter.textsIn('unstreamed').length === 1 ? true : undefined), 30_000);
    expect(adapter.textsIn('unstreamed')).toEqual([answer]);
    expect(adapter.edits).toEqual([]);
    expect(fake.requests.at(-1)?.body?.stream).toBeUndefined();
  });
});
