import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import { ConsoleStore } from '../../adapters/console/console-store.ts';
import { DiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import { markdownToMrkdwn } from '../../adapters/slack/slack-mrkdwn.ts';
import { consoleParts } from '../../src/cli/compose-gateway.ts';
import type { ChatAdapter, ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import { type MessageStream, streamingCursor } from '../../src/gateway/message-stream.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { hashFieldProgress, MemoryPostProgress, RedisPostProgress } from '../../src/gateway/post-progress.ts';
import { boardViewOf, renderBoardText } from '../../src/gateway/render-board.ts';
import type { StreamRecord } from '../../src/gateway/stream-record.ts';
import { Thread } from '../../src/gateway/thread.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { type FakeDiscordServer, startFakeDiscordServer } from '../fakes/fake-discord-server.ts';
import {
  type FakeSlackServer,
  fakeSlackWorkspace,
  startFakeSlackServer,
} from '../fakes/fake-slack-server.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * One contract for every surface: the same Thread calls against the console, Discord and Slack adapters,
 * each on its fake platform, and the same assertions on what the platform ends up showing.
 */

interface ShownMessage {
  id: string;
  text: string;
  /** Where the surface marks edited messages (the console's "(edited)"): whether this one is. */
  edited?: boolean;
}

interface Surface {
  name: string;
  adapter: ChatAdapter;
  /** A fresh conversation for one test. */
  newRef(): ConversationRef;
  /** The bot's messages in the conversation, oldest first, as the platform shows them now. */
  shown(ref: ConversationRef): Promise<ShownMessage[]>;
  /** The platform's rendering of plain Markdown (Slack: mrkdwn). */
  rendered(markdown: string): string;
  /** Makes the platform refuse the next post in a way that is safe to retry (and says when); false: cannot. */
  failNextPostRetryably(): boolean;
  stop(): Promise<void>;
}

const environment = useTestEnvironment();
const surfaces: Surface[] = [];
let runtime: BatonRuntime;
let subscriber: Redis;
let discord: FakeDiscordServer & { opsChannelId: string };
let slack: FakeSlackServer;
let counter = 0;
const nextNumber = () => {
  counter += 1;
  return counter;
};

beforeAll(async () => {
  const config = buildTestConfig(testConfigLayer(environment.fake, { slack: { http_port: 0 } }));
  runtime = await environment.startRuntime(config);
  const logger = createSilentLogger();

  subscriber = createRedisConnection(environment.redis.url, { name: 'contract-subscriber' });
  const consoleAdapter = new ConsoleAdapter({
    config: { ...config.console, port: 0 },
    ...consoleParts(runtime),
    subscriberRedis: subscriber,
    logger,
  });
  const consoleStore = new ConsoleStore(consoleParts(runtime));
  await consoleAdapter.start(new RecordingSink());
  surfaces.push({
    name: 'console',
    adapter: consoleAdapter,
    newRef: () => ({ platform: 'console', channel: 'console', thread: `contract${nextNumber()}` }),
    shown: async (ref) =>
      (await consoleStore.entries(ref.thread))
        .filter((entry) => entry.role === 'bot' || entry.role === 'prompt')
        .map((entry) => ({ id: entry.id, text: entry.text, edited: entry.editedAt !== undefined })),
    rendered: (markdown) => markdown,
    failNextPostRetryably: () => false,
    stop: () => consoleAdapter.stop(),
  });

  discord = await startFakeDiscordServer();
  const discordAdapter = new DiscordAdapter({
    token: discord.token,
    applicationId: discord.applicationId,
    apiUrl: discord.apiUrl,
    config: { ...config.discord, guild_ids: [discord.guildId] },
    logger,
  });
  await discordAdapter.start(new RecordingSink());
  surfaces.push({
    name: 'discord',
    adapter: discordAdapter,
    newRef: () => {
      const thread = discord.addThread(discord.opsChannelId, `contract ${nextNumber()}`);
      return { platform: 'discord', channel: discord.opsChannelId, thread: thread.id };
    },
    shown: async (ref) =>
      discord.botMessagesIn(ref.thread).map((message) => ({ id: message.id, text: message.content })),
    rendered: (markdown) => markdown,
    failNextPostRetryably: () => {
      // A 500 after the write landed: the retry carries the same nonce, and Discord answers with that message.
      discord.failNext({ method: 'POST', path: /^\/channels\/\d+\/messages$/, status: 500, landed: true });
      return true;
    },
    stop: async () => {
      await discordAdapter.stop();
      await discord.close();
    },
  });

  slack = await startFakeSlackServer();
  const slackAdapter = new SlackAdapter({
    botToken: fakeSlackWorkspace.botToken,
    signingSecret: fakeSlackWorkspace.signingSecret,
    apiUrl: slack.apiUrl,
    config: { ...config.slack, http_host: '127.0.0.1', http_port: 0 },
    logger,
  });
  await slackAdapter.start(new RecordingSink());
  surfaces.push({
    name: 'slack',
    adapter: slackAdapter,
    newRef: () => ({
      platform: 'slack',
      channel: 'C0CONTRACT',
      thread: `1700000000.${String(nextNumber()).padStart(6, '0')}`,
    }),
    shown: async (ref) =>
      [...slack.messages.values()]
        .filter((message) => message.channel === ref.channel && message.threadTs === ref.thread)
        .map((message) => ({ id: message.ts, text: message.text })),
    rendered: markdownToMrkdwn,
    failNextPostRetryably: () => {
      slack.failNext('chat.postMessage', { kind: 'ratelimited', retryAfterSeconds: 1 });
      return true;
    },
    stop: async () => {
      await slackAdapter.stop();
      await slack.close();
    },
  });
}, 60_000);

afterAll(async () => {
  for (const surface of surfaces) await surface.stop().catch(() => undefined);
  subscriber?.disconnect();
});

/** Prose of `words` words, each numbered, so a lost or repeated piece shows. */
function prose(words: number): string {
  return Array.from({ length: words }, (_, index) => `word${index}`).join(' ');
}

function wordsIn(texts: string[]): string[] {
  return texts.join(' ').match(/word\d+/g) ?? [];
}

/** The surface's adapter, failing (not retryably) the `failAt`-th send from now: a gateway dying mid-post. */
function dyingAfter(adapter: ChatAdapter, failAt: number): ChatAdapter {
  let sends = 0;
  return new Proxy(adapter, {
    get(target, property, receiver) {
      if (property === 'send') {
        return async (ref: ConversationRef, message: OutboundMessage) => {
          sends += 1;
          if (sends === failAt) throw new PlatformSendError('gateway died', { retryable: false });
          return target.send(ref, message);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

interface PlatformCall {
  method: string;
  messageId: string | null;
}

/** The surface's adapter, noting every platform write it makes (method, and the message it changes). */
function noting(adapter: ChatAdapter, calls: PlatformCall[]): ChatAdapter {
  const writes = new Set(['send', 'edit', 'delete', 'startStream', 'appendStream', 'stopStream']);
  return new Proxy(adapter, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (typeof property !== 'string' || !writes.has(property)) return value.bind(target);
      return (ref: ConversationRef, ...rest: unknown[]) => {
        const messageId = ['send', 'startStream'].includes(property) ? null : String(rest[0]);
        calls.push({ method: property, messageId });
        return value.call(target, ref, ...rest);
      };
    },
  });
}

/** Feeds `text` to a stream as a model writes it: `pieces` growing prefixes, `everyMs` apart. */
async function writeInto(
  stream: MessageStream,
  text: string,
  pieces: number,
  everyMs: number,
): Promise<void> {
  for (let piece = 1; piece <= pieces; piece += 1) {
    stream.setText(text.slice(0, Math.ceil((text.length * piece) / pieces)));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Streams `text` on `thread` until the platform has made the stream's first message, then dies (the gateway
 * stops) before the message's id is recorded. Resolves with the last record saved: the create call under way.
 */
async function dieBeforeRecordingCreate(thread: Thread, key: string, text: string): Promise<StreamRecord> {
  const recorded: { last: StreamRecord | null; created: boolean } = { last: null, created: false };
  const dying = thread.openStream({
    key,
    onRecord: async (record) => {
      if (record.messages.length > 0) {
        // The platform made the message; the gateway dies before its id is recorded.
        recorded.created = true;
        await new Promise(() => undefined);
      }
      recorded.last = record;
    },
  });
  dying.setText(text);
  await eventually(async () => (recorded.created ? true : undefined), 10_000, 'the stream message');
  dying.abandon();
  if (!recorded.last) throw new Error('nothing was recorded before the create call');
  return recorded.last;
}

async function* piecesOf(text: string, size: number, everyMs: number): AsyncIterable<string> {
  for (let start = 0; start < text.length; start += size) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    yield text.slice(start, start + size);
  }
}

describe.each(['console', 'discord', 'slack'])('Thread contract on %s', (name) => {
  const surface = () => surfaces.find((candidate) => candidate.name === name)!;
  const threadOn = (ref: ConversationRef, adapter = surface().adapter, progress = new MemoryPostProgress()) =>
    new Thread(adapter, ref, { progress, streamIntervalMs: 150 });

  it('posts a short text as one message, exactly', async () => {
    const ref = surface().newRef();
    const posted = await threadOn(ref).post({ kind: 'text', text: 'Deploy **finished** in 4 minutes.' });
    const shown = await surface().shown(ref);
    expect(shown.map((message) => message.text)).toEqual([
      surface().rendered('Deploy **finished** in 4 minutes.'),
    ]);
    expect(posted.messageIds).toEqual([shown[0]!.id]);
  });

  it('splits a long text into messages within the platform limit, every word once and in order', async () => {
    const ref = surface().newRef();
    const max = surface().adapter.limits.maxMessageChars;
    const words = Math.ceil((max * 2.5) / 8);
    await threadOn(ref).post({ kind: 'text', text: prose(words) });
    const shown = (await surface().shown(ref)).map((message) => message.text);
    expect(shown.length).toBeGreaterThanOrEqual(3);
    for (const text of shown) expect(text.length).toBeLessThanOrEqual(max);
    expect(wordsIn(shown)).toEqual(prose(words).split(' '));
  });

  it('redacts secrets before they reach the platform', async () => {
    const ref = surface().newRef();
    await threadOn(ref).post({ kind: 'text', text: 'the key is sk-live0123456789abcdefghij, keep it' });
    const [message] = await surface().shown(ref);
    expect(message!.text).not.toContain('sk-live0123456789abcdefghij');
    expect(message!.text).toContain('[redacted]');
  });

  it('resumes a keyed post that died part-way at the first chunk not posted: no chunk twice', async () => {
    const ref = surface().newRef();
    const max = surface().adapter.limits.maxMessageChars;
    const text = prose(Math.ceil((max * 3.5) / 8));
    const progress = new MemoryPostProgress();
    const dying = threadOn(ref, dyingAfter(surface().adapter, 3), progress);
    await expect(dying.post({ kind: 'text', text }, { key: 'delivery:contract' })).rejects.toThrow(
      'gateway died',
    );
    expect((await surface().shown(ref)).length).toBe(2);
    await threadOn(ref, surface().adapter, progress).post(
      { kind: 'text', text },
      { key: 'delivery:contract' },
    );
    const shown = (await surface().shown(ref)).map((message) => message.text);
    expect(wordsIn(shown)).toEqual(text.split(' '));
    // A third attempt (a redelivered job) posts nothing more.
    await threadOn(ref, surface().adapter, progress).post(
      { kind: 'text', text },
      { key: 'delivery:contract' },
    );
    expect((await surface().shown(ref)).length).toBe(shown.length);
  });

  it('retries what the platform says is retryable, and the message appears once', async () => {
    const ref = surface().newRef();
    if (!surface().failNextPostRetryably()) return;
    await threadOn(ref).post({ kind: 'text', text: 'posted after a refusal' }, { key: 'retry:contract' });
    expect((await surface().shown(ref)).map((message) => message.text)).toEqual(['posted after a refusal']);
  });

  it('posts a keyed prompt once, however often it is retried', async () => {
    const ref = surface().newRef();
    const progress = new MemoryPostProgress();
    const prompt: OutboundMessage = {
      kind: 'prompt',
      prompt: {
        kind: 'question',
        taskId: 't_contract',
        goal: 'pick a region',
        ownerName: 'Ada',
        text: 'Which region?',
        choices: ['eu', 'us'],
      },
      fallbackText: 'Task t_contract asks: Which region? Answer with `answer t_contract #1`.',
    };
    await threadOn(ref, surface().adapter, progress).post(prompt, { key: 'prompt:t_contract:1' });
    await threadOn(ref, surface().adapter, progress).post(prompt, { key: 'prompt:t_contract:1' });
    expect((await surface().shown(ref)).length).toBe(1);
  });

  it('updates a message in place', async () => {
    const ref = surface().newRef();
    const thread = threadOn(ref);
    const { messageIds } = await thread.post({ kind: 'text', text: 'first version' });
    await thread.update(messageIds[0]!, { kind: 'text', text: 'second version' });
    const shown = await surface().shown(ref);
    expect(shown.map((message) => message.text)).toEqual(['second version']);
    expect(shown[0]!.edited ?? true).toBe(true);
  });

  it('streams a reply into one message that grows, and ends exactly as the final text', async () => {
    const ref = surface().newRef();
    const text = `${prose(220)} done.`;
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const message of await surface().shown(ref)) seen.add(message.text);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const result = await threadOn(ref).stream(piecesOf(text, 24, 40), { key: 'reply:contract' });
    watching = false;
    await watcher;
    const shown = await surface().shown(ref);
    expect(shown.map((message) => message.text)).toEqual([surface().rendered(text)]);
    expect(result.messageIds).toEqual([shown[0]!.id]);
    // A reply that streamed into its message is not flagged as edited.
    expect(shown[0]!.edited ?? false).toBe(false);
    // Partial texts were shown on the way, each a beginning of the final one.
    const partial = [...seen].filter((candidate) => candidate !== surface().rendered(text));
    expect(partial.length).toBeGreaterThanOrEqual(2);
    for (const candidate of partial) {
      expect(text.startsWith(candidate.replace(streamingCursor, '').trimEnd())).toBe(true);
    }
  });

  it('re-chunks a streamed reply longer than one message: the stream message plus the rest', async () => {
    const ref = surface().newRef();
    const max = surface().adapter.limits.maxMessageChars;
    const text = prose(Math.ceil((max * 1.6) / 8));
    await threadOn(ref).stream(piecesOf(text, Math.ceil(text.length / 8), 60), { key: 'reply:long' });
    const shown = (await surface().shown(ref)).map((message) => message.text);
    expect(shown.length).toBe(2);
    for (const message of shown) {
      expect(message.length).toBeLessThanOrEqual(max);
      expect(message).not.toContain(streamingCursor.trim());
    }
    expect(wordsIn(shown)).toEqual(text.split(' '));
  });

  it('never streams twice at once in one thread: a second stream only posts its final text', async () => {
    const ref = surface().newRef();
    const first = threadOn(ref).openStream({ key: 'reply:first' });
    const second = threadOn(ref).openStream({ key: 'reply:second' });
    second.setText('this should not be streamed at all ');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await surface().shown(ref)).toEqual([]);
    first.abandon();
    await second.finish('only the final text');
    expect((await surface().shown(ref)).map((message) => message.text)).toEqual(['only the final text']);
  });

  it('lets a resumed stream finish the message an earlier one began, without a second copy', async () => {
    const ref = surface().newRef();
    const progress = new MemoryPostProgress();
    let record: StreamRecord | null = null;
    const started = threadOn(ref, surface().adapter, progress).openStream({
      key: 'reply:resumed',
      onRecord: async (saved) => {
        record = saved;
      },
    });
    started.setText('half of an answer that was ');
    await eventually(
      async () => (record?.messages.length ? record : undefined),
      10_000,
      'the stream message',
    );
    // The gateway dies here: the message is left with its cursor, never looking final.
    started.abandon();
    const half = await surface().shown(ref);
    expect(half.length).toBe(1);
    if (record!.messages[0]!.mode === 'edit') expect(half[0]!.text).toContain(streamingCursor.trim());
    const resumed = threadOn(ref, surface().adapter, progress).openStream({
      key: 'reply:resumed',
      resume: record,
    });
    await resumed.finish('The whole answer, written again.');
    expect((await surface().shown(ref)).map((message) => message.text)).toEqual([
      surface().rendered('The whole answer, written again.'),
    ]);
  });
});

describe.each(['console', 'discord', 'slack'])('Streams outgrowing a message, and crashes, on %s', (name) => {
  const surface = () => surfaces.find((candidate) => candidate.name === name)!;
  const threadOn = (ref: ConversationRef, adapter = surface().adapter, progress = new MemoryPostProgress()) =>
    new Thread(adapter, ref, { progress, streamIntervalMs: 150 });
  const textsOf = async (ref: ConversationRef) => (await surface().shown(ref)).map((message) => message.text);

  it.each([
    ['streams again', true],
    ['only finishes', false],
  ])(
    'finishes the message a gateway created but died before recording (the resumed turn %s): one message, no second copy',
    async (_, streamsAgain) => {
      const ref = surface().newRef();
      const progress = new MemoryPostProgress();
      const saved = await dieBeforeRecordingCreate(
        threadOn(ref, surface().adapter, progress),
        `reply:unrecorded:${streamsAgain}`,
        'the beginning of an answer that ',
      );
      expect(await textsOf(ref)).toHaveLength(1);
      expect(saved.messages).toEqual([]);
      expect(saved.starting?.index).toBe(0);

      const resumed = threadOn(ref, surface().adapter, progress).openStream({
        key: `reply:unrecorded:${streamsAgain}`,
        resume: saved,
      });
      if (streamsAgain) {
        resumed.setText('The whole answer, ');
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      const result = await resumed.finish('The whole answer, written again.');
      const shown = await surface().shown(ref);
      expect(shown.map((message) => message.text)).toEqual([
        surface().rendered('The whole answer, written again.'),
      ]);
      expect(result.messageIds).toEqual([shown[0]!.id]);
      if (name === 'slack') {
        const inThread = [...slack.messages.values()].filter((message) => message.threadTs === ref.thread);
        expect(inThread.map((message) => message.streaming ?? false)).toEqual([false]);
      }
    },
  );

  it('continues a stream that outgrows one message in the next: the posted messages are the final chunks, only the last is edited at the end', async () => {
    const ref = surface().newRef();
    const max = surface().adapter.limits.maxMessageChars;
    const text = `${prose(Math.ceil((max * 2.4) / 8))} end.`;
    const calls: PlatformCall[] = [];
    const thread = threadOn(ref, noting(surface().adapter, calls));
    const chunks = thread.chunksOf(text).map((chunk) => surface().rendered(chunk));
    expect(chunks).toHaveLength(3);
    const stream = thread.openStream({ key: 'reply:outgrows' });
    let firstSeenComplete = -1;
    const watcher = eventually(
      async () => {
        const shown = await textsOf(ref);
        if (shown.length >= 2 && firstSeenComplete < 0 && shown[0] === chunks[0])
          firstSeenComplete = shown.length;
        return shown.length === 3 && shown[0] === chunks[0] && shown[1] === chunks[1] ? shown : undefined;
      },
      60_000,
      'three messages, the first two complete',
    );
    await writeInto(stream, text, 12, 120);
    const before = await watcher;
    // The first message was complete while the second was being written, before the reply ended.
    expect(firstSeenComplete).toBeGreaterThanOrEqual(2);
    expect(before[2]).not.toBe(chunks[2]);
    const ids = (await surface().shown(ref)).map((message) => message.id);
    const callsBefore = calls.length;
    const result = await stream.finish(text);
    expect(await textsOf(ref)).toEqual(chunks);
    expect(result.messageIds).toEqual(ids);
    // Finishing touched the last message only, and posted nothing.
    const finishing = calls.slice(callsBefore);
    expect(finishing.length).toBeGreaterThanOrEqual(1);
    expect(finishing.every((call) => call.messageId === ids[2])).toBe(true);
    for (const message of await textsOf(ref)) expect(message).not.toContain(streamingCursor.trim());
  });

  it('resumes a stream of several messages after a crash: every chunk exactly once', async () => {
    const ref = surface().newRef();
    const max = surface().adapter.limits.maxMessageChars;
    const text = `${prose(Math.ceil((max * 2.4) / 8))} end.`;
    const progress = new MemoryPostProgress();
    let saved: StreamRecord | null = null;
    const dying = threadOn(ref, surface().adapter, progress).openStream({
      key: 'reply:several',
      onRecord: async (record) => {
        saved = record;
      },
    });
    void writeInto(dying, text.slice(0, Math.ceil(text.length * 0.6)), 6, 120);
    await eventually(
      async () => ((saved?.messages.length ?? 0) >= 2 ? true : undefined),
      60_000,
      'two messages',
    );
    // The gateway dies mid-stream.
    dying.abandon();
    const resumed = threadOn(ref, surface().adapter, progress).openStream({
      key: 'reply:several',
      resume: saved,
    });
    await writeInto(resumed, text, 4, 100);
    await resumed.finish(text);
    const chunks = threadOn(ref)
      .chunksOf(text)
      .map((chunk) => surface().rendered(chunk));
    expect(await textsOf(ref)).toEqual(chunks);
    expect(wordsIn(await textsOf(ref))).toEqual(text.match(/word\d+/g));
  });

  it('when the text restarts shorter (a later model call), ends with just its chunks', async () => {
    const ref = surface().newRef();
    const max = surface().adapter.limits.maxMessageChars;
    const preamble = `${prose(Math.ceil((max * 1.5) / 8))} `;
    const stream = threadOn(ref).openStream({ key: 'reply:restarts' });
    await writeInto(stream, preamble, 6, 120);
    await eventually(
      async () => ((await textsOf(ref)).length >= 2 ? true : undefined),
      60_000,
      'two messages',
    );
    stream.setText('');
    await writeInto(stream, 'The short final answer. ', 2, 200);
    await stream.finish('The short final answer.');
    const shown = await textsOf(ref);
    const final = surface().rendered('The short final answer.');
    // Where the platform cannot delete a message, the one no longer needed says so.
    expect(shown).toEqual([final]);
  });
});

describe('Thread on Discord, past its nonce window', () => {
  it('finds the stream message a gateway dead for minutes created but never recorded: no second copy', async () => {
    const surface = surfaces.find((candidate) => candidate.name === 'discord')!;
    const ref = surface.newRef();
    const progress = new MemoryPostProgress();
    const thread = () => new Thread(surface.adapter, ref, { progress, streamIntervalMs: 100 });
    const saved = await dieBeforeRecordingCreate(
      thread(),
      'reply:past-nonce-window',
      'the beginning of an answer that ',
    );
    // Minutes go by: creating it again with the same nonce would make a second message now.
    discord.expireNonces();
    const resumed = thread().openStream({ key: 'reply:past-nonce-window', resume: saved });
    await resumed.finish('The whole answer, written again.');
    expect(discord.botMessagesIn(ref.thread).map((message) => message.content)).toEqual([
      'The whole answer, written again.',
    ]);
    expect(discord.callsTo('GET', new RegExp(`^/channels/${ref.thread}/messages$`)).length).toBeGreaterThan(
      0,
    );
  });
});

describe('Thread on Slack where the app may not stream (post, then chat.update)', () => {
  let adapter: SlackAdapter;
  beforeAll(async () => {
    // An adapter of its own: Slack's refusal is remembered for the adapter's lifetime.
    adapter = new SlackAdapter({
      botToken: fakeSlackWorkspace.botToken,
      signingSecret: fakeSlackWorkspace.signingSecret,
      apiUrl: slack.apiUrl,
      config: { ...runtime.config.slack, http_host: '127.0.0.1', http_port: 0 },
      logger: createSilentLogger(),
    });
    await adapter.start(new RecordingSink());
    slack.failNext('chat.startStream', { kind: 'error', error: 'not_allowed' });
  });
  afterAll(() => adapter.stop());
  const newRef = () => ({
    platform: 'slack',
    channel: 'C0NOSTREAM',
    thread: `1700000001.${String(nextNumber()).padStart(6, '0')}`,
  });
  const inThread = (ref: ConversationRef) =>
    [...slack.messages.values()].filter((message) => message.threadTs === ref.thread);

  it('continues a long reply in posted messages, each its final chunk in mrkdwn', async () => {
    const ref = newRef();
    const text = `${prose(Math.ceil((3500 * 2.4) / 8))} **end**.`;
    const thread = new Thread(adapter, ref, { progress: new MemoryPostProgress(), streamIntervalMs: 150 });
    const chunks = thread.chunksOf(text).map(markdownToMrkdwn);
    expect(chunks).toHaveLength(3);
    const stream = thread.openStream({ key: 'reply:no-native' });
    await writeInto(stream, text, 12, 150);
    await eventually(
      async () => (inThread(ref).length === 3 ? true : undefined),
      60_000,
      'three posted messages',
    );
    expect(inThread(ref)[0]!.text).toBe(chunks[0]);
    await stream.finish(text);
    expect(inThread(ref).map((message) => message.text)).toEqual(chunks);
    expect(inThread(ref).every((message) => !message.streaming)).toBe(true);
  });

  it('finds a posted stream message whose ts was never recorded by its words, across mrkdwn', async () => {
    const ref = newRef();
    const progress = new MemoryPostProgress();
    const saved = await dieBeforeRecordingCreate(
      new Thread(adapter, ref, { progress, streamIntervalMs: 100 }),
      'reply:no-native-unrecorded',
      'a **bold** start & [a link](https://example.com/x) that ',
    );
    // What Slack holds is mrkdwn, not the Markdown that was recorded.
    expect(inThread(ref)[0]!.text).not.toBe(saved.starting!.text);
    const resumed = new Thread(adapter, ref, { progress, streamIntervalMs: 100 }).openStream({
      key: 'reply:no-native-unrecorded',
      resume: saved,
    });
    await resumed.finish('The whole answer.');
    expect(inThread(ref).map((message) => message.text)).toEqual(['The whole answer.']);
  });
});

describe('Thread on Slack, natively streamed', () => {
  it('still ends with the exact final text when chat.stopStream fails', async () => {
    const surface = surfaces.find((candidate) => candidate.name === 'slack')!;
    const ref = surface.newRef();
    slack.failNext('chat.stopStream', { kind: 'error', error: 'message_not_in_streaming_state' });
    const thread = new Thread(surface.adapter, ref, {
      progress: new MemoryPostProgress(),
      streamIntervalMs: 100,
    });
    await thread.stream(piecesOf(`${prose(40)} end.`, 20, 30), { key: 'reply:stop-fails' });
    const messages = [...slack.messages.values()].filter((message) => message.threadTs === ref.thread);
    expect(messages.map((message) => [message.text, message.streaming])).toEqual([
      [`${prose(40)} end.`, false],
    ]);
    expect(slack.callsTo('chat.update').some((call) => call.params.ts === messages[0]!.ts)).toBe(true);
  });
});

describe('Keyed posts whose create landed but was never recorded', () => {
  const slackSurface = () => surfaces.find((candidate) => candidate.name === 'slack')!;
  const slackThread = (ref: ConversationRef, progress: MemoryPostProgress, adapter?: ChatAdapter) =>
    new Thread(adapter ?? slackSurface().adapter, ref, { progress });
  const inSlackThread = (ref: ConversationRef) =>
    [...slack.messages.values()].filter((message) => message.threadTs === ref.thread);

  /** Slack's adapter, making the `at`-th chat.postMessage from now be carried out but never answered. */
  function unansweredAt(adapter: ChatAdapter, at: number): ChatAdapter {
    let sends = 0;
    return new Proxy(adapter, {
      get(target, property, receiver) {
        if (property === 'send') {
          return (ref: ConversationRef, message: OutboundMessage) => {
            sends += 1;
            if (sends === at) slack.failNext('chat.postMessage', { kind: 'unanswered' });
            return target.send(ref, message);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  it('on Slack, a chunk Slack posted whose answer never came is adopted by the retry: every chunk once', async () => {
    const ref = slackSurface().newRef();
    const text = prose(Math.ceil((3500 * 2.5) / 8));
    const progress = new MemoryPostProgress();
    const dying = slackThread(ref, progress, unansweredAt(slackSurface().adapter, 2));
    // The gateway dies while the second chunk's call hangs: Slack has the message, the gateway never its ts.
    void dying.post({ kind: 'text', text }, { key: 'delivery:t_unanswered' });
    await eventually(
      async () => (inSlackThread(ref).length === 2 ? true : undefined),
      10_000,
      'the second chunk',
    );
    const repliesBefore = slack.callsTo('conversations.replies').length;
    const retried = await slackThread(ref, progress).post(
      { kind: 'text', text },
      { key: 'delivery:t_unanswered' },
    );
    const shown = inSlackThread(ref);
    expect(shown).toHaveLength(3);
    expect(wordsIn(shown.map((message) => message.text))).toEqual(text.split(' '));
    // The retry adopted the second chunk's message and posted only the third.
    expect(retried.messageIds).toEqual([shown[1]!.ts, shown[2]!.ts]);
    expect(slack.callsTo('conversations.replies').length).toBeGreaterThan(repliesBefore);
  });

  it('on Slack, a prompt (Block Kit) Slack posted whose answer never came is adopted by the retry: one message', async () => {
    const ref = slackSurface().newRef();
    const progress = new MemoryPostProgress();
    const prompt: OutboundMessage = {
      kind: 'prompt',
      prompt: {
        kind: 'approval',
        taskId: 't_blocks',
        goal: 'rotate the **staging** keys',
        ownerName: 'Ada',
        text: 'Run `rotate-keys --env staging`?',
        choices: [],
        action: { tool: 'terminal', arguments: '{"command":"rotate-keys --env staging"}' },
      },
      fallbackText:
        'Task t_blocks asks to run `rotate-keys --env staging`: _approve t_blocks_ or _deny t_blocks_.',
    };
    slack.failNext('chat.postMessage', { kind: 'unanswered' });
    void slackThread(ref, progress).post(prompt, { key: 'prompt:t_blocks:1' });
    await eventually(async () => (inSlackThread(ref).length === 1 ? true : undefined), 10_000, 'the prompt');
    const retried = await slackThread(ref, progress).post(prompt, { key: 'prompt:t_blocks:1' });
    const shown = inSlackThread(ref);
    expect(shown).toHaveLength(1);
    expect(shown[0]!.blocks?.length).toBeGreaterThan(0);
    expect(retried.messageIds).toEqual([shown[0]!.ts]);
  });

  it('on Slack, a task board (Block Kit) is found by its fallback text, as the lookup finds any post', async () => {
    const ref = slackSurface().newRef();
    const board = boardViewOf(
      `slack:${ref.channel}:${ref.thread}`,
      [
        {
          taskId: 't_board1',
          parentTaskId: null,
          depth: 0,
          goal: 'check the **mirrors**',
          status: 'running',
          elapsedSeconds: 75,
          steps: 3,
          lastActivity: 'tool-call fetch_url',
        },
      ],
      false,
    );
    const since = Date.now();
    const { messageIds } = await slackThread(ref, new MemoryPostProgress()).post({
      kind: 'board',
      board,
      fallbackText: renderBoardText(board),
    });
    expect(inSlackThread(ref)[0]!.blocks?.length).toBeGreaterThan(0);
    const lookup = { since, text: renderBoardText(board) };
    expect(await slackSurface().adapter.findPostedMessage!(ref, { ...lookup, exclude: [] })).toEqual({
      messageId: messageIds[0],
    });
    expect(
      await slackSurface().adapter.findPostedMessage!(ref, { ...lookup, exclude: messageIds }),
    ).toBeNull();
  });

  it('on Slack, another post with the same text is not taken for the unrecorded one: both are shown', async () => {
    const ref = slackSurface().newRef();
    const progress = new MemoryPostProgress();
    const text = 'Done: the cache is warm again.';
    await slackThread(ref, progress).post({ kind: 'text', text }, { key: 'reply:first' });
    // The second post's call is recorded, and its gateway dies before the call reaches Slack.
    const dying = slackThread(ref, progress, dyingAfter(slackSurface().adapter, 1));
    await expect(dying.post({ kind: 'text', text }, { key: 'reply:second' })).rejects.toThrow('gateway died');
    expect(inSlackThread(ref)).toHaveLength(1);
    await slackThread(ref, progress).post({ kind: 'text', text }, { key: 'reply:second' });
    expect(inSlackThread(ref).map((message) => message.text)).toEqual([text, text]);
  });

  it('on Slack, a post retried after a network failure that may have landed is looked up first: one message', async () => {
    const ref = slackSurface().newRef();
    const progress = new MemoryPostProgress();
    let sends = 0;
    // The first call lands, and the connection breaks before the answer (retryable: network failure).
    const breaking = new Proxy(slackSurface().adapter, {
      get(target, property, receiver) {
        if (property === 'send') {
          return async (sendRef: ConversationRef, message: OutboundMessage) => {
            sends += 1;
            const sent = await target.send(sendRef, message);
            if (sends === 1) throw new PlatformSendError('connection reset', { retryable: true });
            return sent;
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const posted = await slackThread(ref, progress, breaking).post(
      { kind: 'text', text: 'posted across a broken connection' },
      { key: 'delivery:t_reset' },
    );
    expect(inSlackThread(ref).map((message) => message.text)).toEqual(['posted across a broken connection']);
    expect(posted.messageIds).toEqual([inSlackThread(ref)[0]!.ts]);
    expect(sends).toBe(1);
  });

  it('on Slack, a lookup that fails for now is tried again; one refused for good (no history scope) posts again: never lost', async () => {
    const text = 'Task t_lookup completed: all green.';
    // Slack took the post; the gateway died before its ts was recorded.
    const landed = slackSurface().newRef();
    const progress = new MemoryPostProgress();
    slack.failNext('chat.postMessage', { kind: 'unanswered' });
    void slackThread(landed, progress).post({ kind: 'text', text }, { key: 'delivery:t_lookup' });
    await eventually(async () => (inSlackThread(landed).length === 1 ? true : undefined), 10_000, 'the post');
    slack.failNext('conversations.replies', { kind: 'http', status: 503 });
    await slackThread(landed, progress).post({ kind: 'text', text }, { key: 'delivery:t_lookup' });
    expect(inSlackThread(landed).map((message) => message.text)).toEqual([text]);

    // The gateway died before the call reached Slack, and the app may not read the thread back.
    const lost = slackSurface().newRef();
    const lostProgress = new MemoryPostProgress();
    await expect(
      slackThread(lost, lostProgress, dyingAfter(slackSurface().adapter, 1)).post(
        { kind: 'text', text },
        { key: 'delivery:t_lookup' },
      ),
    ).rejects.toThrow('gateway died');
    slack.failNext('conversations.replies', { kind: 'error', error: 'missing_scope' });
    await slackThread(lost, lostProgress).post({ kind: 'text', text }, { key: 'delivery:t_lookup' });
    expect(inSlackThread(lost).map((message) => message.text)).toEqual([text]);
  });

  it('on Slack, a post refused as rate limited is not looked up before it is made again (nothing was posted)', async () => {
    const ref = slackSurface().newRef();
    slack.failNext('chat.postMessage', { kind: 'ratelimited', retryAfterSeconds: 1 });
    await slackThread(ref, new MemoryPostProgress()).post(
      { kind: 'text', text: 'posted after a rate limit' },
      { key: 'delivery:t_ratelimited' },
    );
    expect(inSlackThread(ref).map((message) => message.text)).toEqual(['posted after a rate limit']);
    expect(slack.callsTo('conversations.replies').filter((call) => call.params.ts === ref.thread)).toEqual(
      [],
    );
  });

  it('on Discord past its nonce window, a post that landed unrecorded is found by listing the thread: one message', async () => {
    const surface = surfaces.find((candidate) => candidate.name === 'discord')!;
    const ref = surface.newRef();
    const progress = new MemoryPostProgress();
    // The message lands; the gateway dies before recording it.
    const landedThenDied = new Proxy(surface.adapter, {
      get(target, property, receiver) {
        if (property === 'send') {
          return async (sendRef: ConversationRef, message: OutboundMessage) => {
            await target.send(sendRef, message);
            throw new PlatformSendError('gateway died', { retryable: false });
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const text = 'Task t_nonce completed: the report is ready.';
    await expect(
      new Thread(landedThenDied, ref, { progress }).post({ kind: 'text', text }, { key: 'delivery:t_nonce' }),
    ).rejects.toThrow('gateway died');
    // Minutes go by: the same nonce would make a second message now.
    discord.expireNonces();
    const recorded = progress.for('delivery:t_nonce');
    const { intent } = await recorded.state!();
    await recorded.recordIntent!({ ...intent!, at: intent!.at - 5 * 60_000 });
    await new Thread(surface.adapter, ref, { progress }).post(
      { kind: 'text', text },
      { key: 'delivery:t_nonce' },
    );
    expect(discord.botMessagesIn(ref.thread).map((message) => message.content)).toEqual([text]);
  });
  it('on Slack, with its progress in Redis as prompt delivery keeps it, a prompt that landed unrecorded is adopted and recorded with its ts', async () => {
    const ref = slackSurface().newRef();
    const redis = runtime.redis;
    const stateKey = `${runtime.keys.delivery('t_redis:prompt:1')}`;
    const store = new RedisPostProgress(redis, runtime.keys, 60);
    const progress = () => hashFieldProgress(redis, stateKey, 'posted', 60, 'messageId');
    const prompt: OutboundMessage = {
      kind: 'prompt',
      prompt: {
        kind: 'question',
        taskId: 't_redis',
        goal: 'pick a region',
        ownerName: 'Ada',
        text: 'Which region?',
        choices: ['eu', 'us'],
      },
      fallbackText: 'Task t_redis asks: Which region? Answer with `answer t_redis #1`.',
    };
    slack.failNext('chat.postMessage', { kind: 'unanswered' });
    void new Thread(slackSurface().adapter, ref, { progress: store }).post(prompt, {
      key: 'prompt:t_redis:1',
      progress: progress(),
    });
    await eventually(async () => (inSlackThread(ref).length === 1 ? true : undefined), 10_000, 'the prompt');
    // The call is recorded before it is made: index, time and fingerprint, nothing posted yet.
    expect(await redis.hget(stateKey, 'postedIntent')).toMatch(/^0:\d+:[0-9a-f]{16}$/);
    expect(await redis.hget(stateKey, 'posted')).toBeNull();
    expect(await redis.ttl(stateKey)).toBeGreaterThan(0);
    const retried = await new Thread(slackSurface().adapter, ref, { progress: store }).post(prompt, {
      key: 'prompt:t_redis:1',
      progress: progress(),
    });
    const shown = inSlackThread(ref);
    expect(shown).toHaveLength(1);
    expect(retried.messageIds).toEqual([shown[0]!.ts]);
    expect(await redis.hgetall(stateKey)).toEqual({ posted: '1', messageId: shown[0]!.ts });
    // The thread notes the message, so another post's lookup leaves it out.
    const noted = runtime.keys.threadMessages(`slack:${ref.channel}:${ref.thread}`);
    expect(await redis.zrange(noted, '0', '-1')).toEqual([shown[0]!.ts]);
    expect(await redis.ttl(noted)).toBeGreaterThan(0);
  });
});
