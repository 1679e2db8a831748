import { describe, expect, it } from 'vitest';
import { textReply } from '../fakes/fake-openai-server.ts';
import {
  lastInputOf,
  parentEchoes,
  slackPeople,
  startSlackBaton,
  useSlackBaton,
} from '../fakes/fake-slack-harness.ts';
import {
  eventCallback,
  mentionEvent,
  messageEvent,
  nextSlackTs,
  postToSlackApp,
  slashCommand,
} from '../fakes/fake-slack-payloads.ts';
import { fakeSlackWorkspace, type SlackApiCall } from '../fakes/fake-slack-server.ts';
import { goalOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const environment = useTestEnvironment();
const { redis, fake: openai } = environment;

const sections = 24;
/** About 12,500 characters of Markdown: headings, bold, links, lists and a code block per section. */
const longMarkdown = Array.from({ length: sections }, (_, index) =>
  [
    `## Section ${index}`,
    `Some **bold** findings & [link ${index}](https://example.com/${index}) about <the> incident.`,
    '- first point\n- second point',
    '```ts',
    ...Array.from(
      { length: 8 },
      (_, line) => `const value${index}_${line} = compute(${line}) && check(${line}); // line`,
    ),
    '```',
  ].join('\n'),
).join('\n\n');

const { slack, baton } = useSlackBaton({
  environment,
  mode: 'http',
  handler: (request) =>
    lastInputOf(request).includes('long report') ? textReply(longMarkdown) : parentEchoes(request),
});

const turnsSaying = (text: string) =>
  openai.requests.filter((request) => goalOf(request) === null && lastInputOf(request).includes(text));
const postsIn = (thread: string): SlackApiCall[] =>
  slack.callsTo('chat.postMessage').filter((call) => call.params.thread_ts === thread);
const send = (event: Record<string, unknown>, eventId?: string) =>
  postToSlackApp(baton.adapter.url!, eventCallback(event, eventId)).then((answer) => {
    expect(answer.status).toBe(200);
  });
const settle = () => new Promise((resolve) => setTimeout(resolve, 600));

/** Starts a conversation with a mention; its thread is then Baton's. */
async function ownedThread(channel: string): Promise<string> {
  const event = mentionEvent({ user: slackPeople.ada.id, channel, text: `opening ${channel}` });
  await send(event);
  await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === event.ts);
  return event.ts as string;
}

describe('which Slack messages become turns', () => {
  it('takes a reply in a thread Baton owns as a turn without a mention, and nothing else', async () => {
    const channel = 'C0THREAD';
    const thread = await ownedThread(channel);
    const inThread = { channel, threadTs: thread };
    await send(messageEvent({ user: slackPeople.bob.id, text: 'and the logs?', ...inThread }));
    await slack.waitForCall(
      'chat.postMessage',
      (call) => call.params.text === 'Parent heard: Bob: and the logs?',
    );

    await send(
      messageEvent({
        user: 'UOTHER',
        text: 'beep from a bot',
        ...inThread,
        extra: { subtype: 'bot_message', bot_id: 'BOTHER' },
      }),
    );
    await send(
      messageEvent({ user: 'UOTHERBOT', text: 'bot with a user', ...inThread, extra: { bot_id: 'BOTHER' } }),
    );
    await send(
      messageEvent({
        user: fakeSlackWorkspace.botUserId,
        text: 'my own reply',
        ...inThread,
        extra: { bot_id: fakeSlackWorkspace.botId },
      }),
    );
    const edited = messageEvent({ user: slackPeople.bob.id, text: '', ...inThread });
    await send({
      ...edited,
      subtype: 'message_changed',
      hidden: true,
      user: undefined,
      message: {
        type: 'message',
        user: slackPeople.bob.id,
        text: 'an edited line',
        ts: nextSlackTs(),
        thread_ts: thread,
      },
    });
    await send(
      messageEvent({
        user: slackPeople.bob.id,
        text: 'thread nobody owns',
        channel,
        threadTs: nextSlackTs(),
      }),
    );
    await send(messageEvent({ user: slackPeople.bob.id, text: 'top-level chatter', channel }));
    await settle();
    for (const text of [
      'beep from a bot',
      'bot with a user',
      'my own reply',
      'an edited line',
      'thread nobody owns',
      'top-level chatter',
    ]) {
      expect(turnsSaying(text), text).toHaveLength(0);
    }
    expect(turnsSaying('and the logs?')).toHaveLength(1);
  });

  it('takes one turn for a message Slack sends both as message and as app_mention', async () => {
    const channel = 'C0PAIR';
    const thread = await ownedThread(channel);
    const ts = nextSlackTs();
    const text = 'pair check';
    const asMessage = messageEvent({
      user: slackPeople.ada.id,
      channel,
      ts,
      threadTs: thread,
      text: `<@${fakeSlackWorkspace.botUserId}> ${text}`,
    });
    const asMention = mentionEvent({ user: slackPeople.ada.id, channel, ts, threadTs: thread, text });
    await Promise.all([send(asMessage, 'EvPAIRMSG'), send(asMention, 'EvPAIRMENTION')]);
    await slack.waitForCall('chat.postMessage', (call) => call.params.text === `Parent heard: Ada: ${text}`);
    await settle();
    expect(turnsSaying(text)).toHaveLength(1);
    expect(postsIn(thread).filter((call) => String(call.params.text).includes(text))).toHaveLength(1);
  });

  it('treats command words after a mention in a thread as a command, and other words as a turn', async () => {
    const channel = 'C0WORDS';
    const thread = await ownedThread(channel);
    const before = turnsSaying('').length;
    await send(mentionEvent({ user: slackPeople.ada.id, channel, threadTs: thread, text: 'tasks' }));
    await slack.waitForCall(
      'chat.postMessage',
      (call) => call.params.thread_ts === thread && call.params.text === 'No tasks in this thread yet.',
    );
    await send(
      mentionEvent({ user: slackPeople.ada.id, channel, threadTs: thread, text: 'cancel t_nope12' }),
    );
    const note = await slack.waitForCall('chat.postEphemeral', (call) => call.params.thread_ts === thread);
    expect(note.params).toMatchObject({ user: slackPeople.ada.id, text: 'No task t_nope12 here.' });
    expect(turnsSaying('').length).toBe(before);

    await send(
      mentionEvent({ user: slackPeople.ada.id, channel, threadTs: thread, text: 'help me read this log' }),
    );
    await slack.waitForCall(
      'chat.postMessage',
      (call) => call.params.text === 'Parent heard: Ada: help me read this log',
    );
  });
});

describe('slack.require_mention_in_threads', () => {
  it('makes only mentions turns, even in a thread Baton owns', async () => {
    const strict = await startSlackBaton({
      redisUrl: redis.url,
      openai,
      slack,
      mode: 'socket',
      overrides: { slack: { require_mention_in_threads: true } },
    });
    try {
      await slack.waitForSocket(1);
      const opening = mentionEvent({ user: slackPeople.ada.id, channel: 'C0STRICT', text: 'strict opening' });
      await slack.sendEnvelope('events_api', eventCallback(opening));
      const thread = opening.ts as string;
      await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === thread);
      const inThread = { channel: 'C0STRICT', threadTs: thread };
      await slack.sendEnvelope(
        'events_api',
        eventCallback(messageEvent({ user: slackPeople.ada.id, text: 'unmentioned follow-up', ...inThread })),
      );
      await slack.sendEnvelope(
        'events_api',
        eventCallback(mentionEvent({ user: slackPeople.ada.id, text: 'mentioned follow-up', ...inThread })),
      );
      await slack.waitForCall(
        'chat.postMessage',
        (call) => call.params.text === 'Parent heard: Ada: mentioned follow-up',
      );
      await settle();
      expect(turnsSaying('unmentioned follow-up')).toHaveLength(0);
    } finally {
      await strict.stop();
    }
  });
});

describe('people not allowed', () => {
  it('get an ephemeral refusal for a mention and for /baton, and no model call', async () => {
    const event = mentionEvent({ user: slackPeople.mallory.id, channel: 'C0DENY', text: 'let me in' });
    await send(event);
    const refusal = await slack.waitForCall(
      'chat.postEphemeral',
      (call) => call.params.user === slackPeople.mallory.id,
    );
    expect(refusal.params).toMatchObject({
      channel: 'C0DENY',
      text: "You're not allowed to use Baton here.",
    });
    expect(refusal.params.thread_ts).toBeUndefined();

    const responseUrl = slack.newResponseUrl();
    await postToSlackApp(baton.adapter.url!, {
      form: slashCommand({ user: slackPeople.mallory.id, text: 'tasks', responseUrl }),
    });
    const answer = await slack.waitForResponse((post) => post.id === responseUrl.split('/').at(-1));
    expect(answer.body.response_type).toBe('ephemeral');
    expect(String(answer.body.text)).toContain("You're not allowed to use Baton here.");

    await settle();
    expect(turnsSaying('let me in')).toHaveLength(0);
    expect(postsIn(event.ts as string)).toHaveLength(0);
  });
});

describe('long replies', () => {
  it('arrive as mrkdwn chunks of at most 3,500 characters, code blocks balanced, nothing lost', async () => {
    expect(longMarkdown.length).toBeGreaterThan(12_000);
    const event = mentionEvent({
      user: slackPeople.ada.id,
      channel: 'C0LONG',
      text: 'write the long report',
    });
    await send(event);
    const thread = event.ts as string;
    await slack.waitForCall(
      'chat.postMessage',
      (call) =>
        call.params.thread_ts === thread && String(call.params.text).includes(`Section ${sections - 1}`),
    );
    await settle();
    const chunks = postsIn(thread).map((call) => String(call.params.text));
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(3500);
      expect((chunk.match(/^```/gm) ?? []).length % 2).toBe(0);
      const prose = chunk.replace(/```[\s\S]*?```/g, '');
      expect(prose).not.toContain('**');
      expect(prose).not.toMatch(/\[link \d+\]\(/);
    }
    const joined = chunks.join('\n');
    for (let index = 0; index < sections; index += 1) {
      expect(joined).toContain(`*Section ${index}*`);
      expect(joined).toContain(`<https://example.com/${index}|link ${index}>`);
      for (let line = 0; line < 8; line += 1)
        expect(joined).toContain(`const value${index}_${line} = compute(${line})`);
    }
    expect(joined).toContain('findings &amp; ');
    expect(joined).toContain('&lt;the&gt;');
  });
});
