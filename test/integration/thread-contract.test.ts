import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import { ConsoleStore } from '../../adapters/console/console-store.ts';
import { DiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import { markdownToMrkdwn } from '../../adapters/slack/slack-mrkdwn.ts';
import type { ChatAdapter, ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import { streamingCursor } from '../../src/gateway/message-stream.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { MemoryPostProgress } from '../../src/gateway/post-progress.ts';
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
    redis: runtime.redis,
    subscriberRedis: subscriber,
    keys: runtime.keys,
    store: runtime.store,
    signals: runtime.signals,
    logger,
  });
  const consoleStore = new ConsoleStore({
    redis: runtime.redis,
    keys: runtime.keys,
    retentionSeconds: runtime.store.retentionSeconds,
  });
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
