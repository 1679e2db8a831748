import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mrkdwnLength } from '../../adapters/slack/slack-poster.ts';
import { streamingCursor } from '../../src/gateway/message-stream.ts';
import { chunkForPlatform } from '../../src/gateway/platform-chunks.ts';
import {
  type FakeDiscordServer,
  type FakeUser,
  startFakeDiscordServer,
} from '../fakes/fake-discord-server.ts';
import { textReply } from '../fakes/fake-openai-server.ts';
import { eventCallback, mentionEvent } from '../fakes/fake-slack-payloads.ts';
import {
  type FakeSlackServer,
  fakeSlackWorkspace,
  startFakeSlackServer,
} from '../fakes/fake-slack-server.ts';
import { type BatonProcess, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { useSlackBatonProcesses } from '../support/slack-baton-processes.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * Parent replies streaming on every platform, through real `baton gateway` processes on the fake
 * Discord, Slack (Socket Mode) and the console: the text grows in one message and ends exactly as the
 * model wrote it; a gateway SIGKILLed mid-stream leaves a message that does not look final, and the
 * gateway that resumes the turn finishes that same message: one final message, never a second copy, even
 * when the gateway died between Slack making the stream message and the gateway recording it.
 */

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
let discord: FakeDiscordServer & { opsChannelId: string };
let slack: FakeSlackServer;
let ada: FakeUser;
const slackUser = 'UADA';
const spawn = useSlackBatonProcesses({
  redisUrl: () => redis.url,
  slack: () => slack,
  extraEnv: () => ({
    DISCORD_TOKEN: discord.token,
    DISCORD_APPLICATION_ID: discord.applicationId,
    DISCORD_API_URL: discord.apiUrl,
  }),
});

beforeAll(async () => {
  discord = await startFakeDiscordServer();
  ada = discord.addUser('Ada');
  slack = await startFakeSlackServer();
  slack.setUserName(slackUser, 'Ada');
});
afterAll(async () => {
  await discord.close();
  await slack.close();
});

/** ~600 characters of numbered words: a lost or repeated piece shows. */
const finalText = `Here is the plan. ${Array.from({ length: 80 }, (_, index) => `step${index}`).join(' ')} Done.`;

/** The parent streams `finalText` in small pieces, about 3 s in all (or slower). */
function streamSlowly(pieceEveryMs = 40): void {
  fake.setHandler(() => textReply(finalText, { streamPieceChars: 8, streamIntervalMs: pieceEveryMs }));
}

/** One config (one Redis key prefix) per test, shared by the gateways it starts. */
const gatewayLayer = () =>
  testConfigLayer(fake, {
    console: { port: 0 },
    access: { allowed_users: [ada.id, slackUser] },
    discord: { guild_ids: [discord.guildId] },
    gateway: { stream_replies: true, stream_interval_ms: 300 },
  });

const spawnGateway = (layer = gatewayLayer()) => spawn('gateway', layer);

interface Conversations {
  consoleThread: string;
  discordThread: string;
  slackThreadTs: string;
}

/** One request on each platform. */
async function askEverywhere(gateway: BatonProcess, words: string): Promise<Conversations> {
  const consoleThread = await createConsoleThread(gateway.consoleUrl!, words);
  await postConsoleMessage(gateway.consoleUrl!, consoleThread, words);
  const mention = discord.postMessage(ada, discord.opsChannelId, `<@${discord.botUser.id}> ${words}`);
  const event = mentionEvent({ user: slackUser, text: words });
  await slack.sendEnvelope('events_api', eventCallback(event));
  return { consoleThread, discordThread: mention.id, slackThreadTs: String(event.ts) };
}

/** What each platform shows as the bot's messages in each conversation, now. */
async function shown(gateway: BatonProcess, conversations: Conversations) {
  return {
    console: await botTexts(gateway.consoleUrl!, conversations.consoleThread),
    discord: discord.botMessagesIn(conversations.discordThread).map((message) => message.content),
    slack: [...slack.messages.values()]
      .filter((message) => message.threadTs === conversations.slackThreadTs)
      .map((message) => ({ text: message.text, streaming: message.streaming === true })),
  };
}

const slackTexts = (messages: Array<{ text: string }>) => messages.map((message) => message.text);

describe('streamed parent replies', () => {
  it('grow in one message on each platform and end exactly as written', async () => {
    streamSlowly();
    const gateway = await spawnGateway();
    const conversations = await askEverywhere(gateway, 'plan the rollout');
    const seen = { console: new Set<string>(), discord: new Set<string>(), slack: new Set<string>() };
    const done = async () => {
      const now = await shown(gateway, conversations);
      for (const text of now.console) seen.console.add(text);
      for (const text of now.discord) seen.discord.add(text);
      for (const text of slackTexts(now.slack)) seen.slack.add(text);
      const finished =
        now.console.at(-1) === finalText &&
        now.discord.at(-1) === finalText &&
        now.slack.length === 1 &&
        !now.slack[0]!.streaming;
      return finished ? now : undefined;
    };
    const final = await eventually(done, 60_000, 'the final replies');
    expect(final.console).toEqual([finalText]);
    expect(final.discord).toEqual([finalText]);
    expect(final.slack).toEqual([{ text: finalText, streaming: false }]);
    for (const [platform, texts] of Object.entries(seen)) {
      const partial = [...texts].filter((text) => text !== finalText);
      expect(partial.length, platform).toBeGreaterThanOrEqual(1);
      for (const text of partial) {
        expect(finalText.startsWith(text.replace(streamingCursor, '').trimEnd()), platform).toBe(true);
      }
    }
    // Slack: a native stream in the thread, with a status line while no text flowed.
    const inThread = (call: { params: Record<string, unknown> }) =>
      call.params.thread_ts === conversations.slackThreadTs;
    expect(slack.callsTo('chat.startStream').filter(inThread)).toHaveLength(1);
    expect(slack.callsTo('chat.appendStream').length).toBeGreaterThanOrEqual(1);
    expect(slack.callsTo('chat.stopStream')).toHaveLength(1);
    expect(
      slack
        .callsTo('assistant.threads.setStatus')
        .some(
          (call) =>
            call.params.status === 'is thinking…' && call.params.thread_ts === conversations.slackThreadTs,
        ),
    ).toBe(true);
    // Discord: within its edit rate, at most 5 edits of the reply in any 5 s.
    const edits = discord
      .callsTo('PATCH', new RegExp(`^/channels/${conversations.discordThread}/messages/`))
      .map((call) => call.at);
    expect(edits.length).toBeGreaterThanOrEqual(1);
    for (const at of edits)
      expect(edits.filter((other) => other >= at && other < at + 5000).length).toBeLessThanOrEqual(5);
  }, 120_000);

  it('SIGKILLed mid-stream, leave no half message looking final; the resumed turn finishes that one message', async () => {
    // About 8 s a reply: time to see every platform's message mid-stream, even on a loaded machine.
    streamSlowly(100);
    const layer = gatewayLayer();
    const first = await spawnGateway(layer);
    const conversations = await askEverywhere(first, 'write the incident summary');
    // Every platform shows a message still being written.
    const half = await eventually(
      async () => {
        const now = await shown(first, conversations);
        const ready = now.console.length === 1 && now.discord.length === 1 && now.slack.length === 1;
        return ready ? now : undefined;
      },
      30_000,
      'a streaming message on each platform',
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect(half.console[0]).toContain(streamingCursor.trim());
    expect(half.discord[0]).toContain(streamingCursor.trim());
    expect(half.slack[0]!.streaming).toBe(true);
    expect(discord.botMessagesIn(conversations.discordThread)[0]!.content).not.toBe(finalText);

    const second = await spawnGateway(layer);
    const final = await eventually(
      async () => {
        const now = await shown(second, conversations);
        const finished =
          now.console.includes(finalText) &&
          now.discord.includes(finalText) &&
          now.slack.some((message) => message.text === finalText && !message.streaming);
        return finished ? now : undefined;
      },
      90_000,
      'the resumed replies',
    );
    // Give a duplicate, if there were to be one, time to appear.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const settled = await shown(second, conversations);
    expect(settled.console).toEqual([finalText]);
    expect(settled.discord).toEqual([finalText]);
    expect(settled.slack).toEqual([{ text: finalText, streaming: false }]);
    expect(final.console).toEqual([finalText]);
  }, 180_000);

  it('SIGKILLed while a reply longer than one message streams into its second, leave every chunk exactly once', async () => {
    // About 6,000 characters over about 20 s: past Slack's 3,500 well before the end.
    const longText = `The long report. ${Array.from({ length: 700 }, (_, index) => `line${index}`).join(' ')} End.`;
    fake.setHandler(() => textReply(longText, { streamPieceChars: 30, streamIntervalMs: 100 }));
    const layer = gatewayLayer();
    const first = await spawnGateway(layer);
    const mention = discord.postMessage(
      ada,
      discord.opsChannelId,
      `<@${discord.botUser.id}> write the report`,
    );
    const event = mentionEvent({ user: slackUser, text: 'write the report' });
    await slack.sendEnvelope('events_api', eventCallback(event));
    const discordShown = () => discord.botMessagesIn(mention.id).map((message) => message.content);
    const slackShown = () =>
      [...slack.messages.values()]
        .filter((message) => message.threadTs === event.ts)
        .map((message) => ({ text: message.text, streaming: message.streaming === true }));
    await eventually(
      async () => (discordShown().length >= 2 && slackShown().length >= 2 ? true : undefined),
      60_000,
      'a second stream message on Discord and on Slack',
    );
    first.child.kill('SIGKILL');
    await first.exited;
    // Killed mid-stream: the last message on each platform is still marked unfinished.
    expect(discordShown().at(-1)).toContain(streamingCursor.trim());
    expect(slackShown().at(-1)!.streaming).toBe(true);

    await spawnGateway(layer);
    const discordChunks = chunkForPlatform(longText, 2000);
    const slackChunks = chunkForPlatform(longText, 3500, mrkdwnLength);
    expect(discordChunks.length).toBe(3);
    expect(slackChunks.length).toBe(2);
    await eventually(
      async () => {
        const done =
          discordShown().at(-1) === discordChunks.at(-1) &&
          slackShown().some((message) => message.text === slackChunks.at(-1) && !message.streaming);
        return done ? true : undefined;
      },
      90_000,
      'the resumed reply',
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(discordShown()).toEqual(discordChunks);
    expect(slackShown()).toEqual(slackChunks.map((text) => ({ text, streaming: false })));
  }, 180_000);

  it('in Slack, SIGKILLed after chat.startStream made the message but before its ts was recorded, the resumed turn finishes that message: no second copy', async () => {
    streamSlowly(100);
    const layer = gatewayLayer();
    // Slack makes the stream message, and the answer carrying its ts never reaches the gateway.
    slack.failNext('chat.startStream', { kind: 'unanswered' });
    const first = await spawnGateway(layer);
    const event = mentionEvent({ user: slackUser, text: 'summarise the outage' });
    await slack.sendEnvelope('events_api', eventCallback(event));
    const inThread = () => [...slack.messages.values()].filter((message) => message.threadTs === event.ts);
    await eventually(async () => (inThread().length === 1 ? true : undefined), 30_000, 'the stream message');
    first.child.kill('SIGKILL');
    await first.exited;
    expect(inThread()[0]!.streaming).toBe(true);

    await spawnGateway(layer);
    await eventually(
      async () =>
        inThread().some((message) => message.text === finalText && !message.streaming) ? true : undefined,
      90_000,
      'the resumed reply',
    );
    // Give a duplicate, if there were to be one, time to appear.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(
      inThread().map((message) => ({ text: message.text, streaming: message.streaming === true })),
    ).toEqual([{ text: finalText, streaming: false }]);
    // The resumed gateway found the message by reading the thread back.
    expect(slack.callsTo('conversations.replies').some((call) => call.params.ts === event.ts)).toBe(true);
  }, 180_000);

  it('in Slack, posts then updates where the app may not stream', async () => {
    slack.failNext('chat.startStream', { kind: 'error', error: 'not_allowed' });
    streamSlowly();
    const gateway = await spawnGateway();
    const event = mentionEvent({ user: slackUser, text: 'no streaming here' });
    await slack.sendEnvelope('events_api', eventCallback(event));
    const inThread = () => [...slack.messages.values()].filter((message) => message.threadTs === event.ts);
    await eventually(
      async () => (inThread().some((message) => message.text === finalText) ? true : undefined),
      60_000,
      'the final reply',
    );
    expect(inThread().map((message) => message.text)).toEqual([finalText]);
    expect(inThread()[0]!.edits).toBeGreaterThanOrEqual(1);
    const ts = inThread()[0]!.ts;
    expect(
      slack.callsTo('chat.update').filter((call) => call.params.ts === ts).length,
    ).toBeGreaterThanOrEqual(1);
    expect(slack.callsTo('chat.appendStream').filter((call) => call.params.ts === ts)).toEqual([]);
    expect(gateway.output()).not.toContain(fakeSlackWorkspace.botToken);
  }, 120_000);
});
