import { describe, expect, it } from 'vitest';
import { refreshActionId } from '../../adapters/slack/slack-board-blocks.ts';
import { hangReply, type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { lastInputOf, slackPeople, useSlackBaton } from '../fakes/fake-slack-harness.ts';
import {
  blockActions,
  eventCallback,
  interactivityForm,
  mentionEvent,
  nextSlackTs,
  postToSlackApp,
  slackSignature,
  slashCommand,
} from '../fakes/fake-slack-payloads.ts';
import { fakeSlackWorkspace } from '../fakes/fake-slack-server.ts';
import { eventually } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const environment = useTestEnvironment();
const { fake: openai } = environment;

const hangingGoal = 'Watch the deploy until told otherwise';
const parentAnswer = (request: RecordedRequest) => {
  const input = lastInputOf(request);
  if (messagesOf(request).at(-1)?.role === 'tool') return textReply('Started it.');
  // "delegate: …" makes the parent hand the words to a child, as a model echoing a person would.
  const delegated = /delegate: (.*)$/s.exec(input);
  return delegated
    ? toolCallReply([{ name: 'delegate_task_async', arguments: { goal: delegated[1]! } }])
    : textReply(`Parent heard: ${input}`);
};
const { slack, baton } = useSlackBaton({
  environment,
  mode: 'http',
  handler: scriptByGoal({ [hangingGoal]: () => hangReply() }, parentAnswer),
});

/** POSTs a raw body, signed as Slack signs, with the given content type. */
async function postSignedRaw(raw: string, contentType: string): Promise<number> {
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await fetch(baton.adapter.url!, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(fakeSlackWorkspace.signingSecret, timestamp, raw),
    },
    body: raw,
  });
  await response.text();
  return response.status;
}

async function stillAnswersMentions(text: string): Promise<void> {
  const event = mentionEvent({ user: slackPeople.ada.id, text });
  expect((await postToSlackApp(baton.adapter.url!, eventCallback(event))).status).toBe(200);
  const post = await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === event.ts);
  expect(post.params.text).toBe(`Parent heard: Ada: ${text}`);
}

describe('Slack HTTP mode with bad input', () => {
  // Bolt read `body.ssl_check` of null: an unhandled rejection that ended the whole process.
  it('refuses signed bodies that are not JSON objects with 400, and keeps serving', async () => {
    const form = 'application/x-www-form-urlencoded';
    const json = 'application/json';
    const bodies: Array<[string, string]> = [
      ['payload=null', form],
      ['payload=%5B%5D', form],
      ['payload=42', form],
      ['null', json],
      ['[]', json],
      ['"text"', json],
      ['7', json],
      ['{"unterminated', json],
    ];
    for (const [raw, contentType] of bodies) {
      expect({ raw, status: await postSignedRaw(raw, contentType) }).toEqual({ raw, status: 400 });
    }
    await stillAnswersMentions('are you still there?');
    expect(baton.adapter.isHealthy()).toBe(true);
  });

  it('runs an identical signed /baton steer posted three times once', async () => {
    const thread = nextSlackTs();
    const [task] = await baton.runtime.service.dispatch(
      {
        sessionKey: `slack:C0OPS:${thread}`,
        origin: { platform: 'slack', channel: 'C0OPS', thread, user: slackPeople.ada.id, userName: 'Ada' },
        callerTaskId: null,
        depth: 0,
        displayName: 'Ada',
      },
      [{ goal: hangingGoal }],
    );
    const responseUrl = slack.newResponseUrl();
    const form = slashCommand({
      user: slackPeople.ada.id,
      text: `steer ${task!.id} look at the canary first`,
      responseUrl,
    });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await postToSlackApp(baton.adapter.url!, { form })).status).toBe(200);
    }
    const responseId = responseUrl.split('/').at(-1);
    await slack.waitForResponse((post) => post.id === responseId);
    // Give repeats every chance to land before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await baton.runtime.store.readInbox(task!.id, '0')).toHaveLength(1);
    expect(slack.responses.filter((post) => post.id === responseId)).toHaveLength(1);
    await baton.runtime.service.cancelTree([task!.id], 'test over');
  });

  it('answers a board button pressed once but delivered twice once', async () => {
    const thread = nextSlackTs();
    const press = blockActions({
      user: slackPeople.bob.id,
      messageTs: nextSlackTs(),
      threadTs: thread,
      actionId: refreshActionId,
      value: 't_absent2',
      responseUrl: slack.newResponseUrl(),
    });
    await postToSlackApp(baton.adapter.url!, interactivityForm(press));
    await postToSlackApp(baton.adapter.url!, interactivityForm(press), { retryNum: 1 });
    await slack.waitForCall('chat.postEphemeral', (call) => call.params.thread_ts === thread);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const notes = slack.callsTo('chat.postEphemeral').filter((call) => call.params.thread_ts === thread);
    expect(notes).toHaveLength(1);
  });

  // A lone surrogate is valid JSON ("\ud800") but Redis's Lua JSON refused it: delegation broke.
  it('makes a lone surrogate in a message well-formed, and delegation from it works', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'delegate: look \ud800 into it' });
    expect((await postToSlackApp(baton.adapter.url!, eventCallback(event))).status).toBe(200);
    const child = await eventually(
      async () => openai.requests.find((request) => goalOf(request)?.startsWith('look ')),
      10_000,
      'the child request',
    );
    expect(goalOf(child)).toBe('look \ufffd into it');
    const parentInput = openai.requests.map(lastInputOf).find((input) => input.includes('delegate: look'));
    expect(parentInput).toBe('Ada: delegate: look \ufffd into it');
  });
});
