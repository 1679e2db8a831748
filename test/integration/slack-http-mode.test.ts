import { describe, expect, it } from 'vitest';
import { slackAdapterFromEnv } from '../../adapters/slack/slack-adapter-from-env.ts';
import { refreshActionId } from '../../adapters/slack/slack-board-blocks.ts';
import { isBatonError } from '../../src/errors.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { lastInputOf, parentEchoes, slackPeople, useSlackBaton } from '../fakes/fake-slack-harness.ts';
import {
  blockActions,
  eventCallback,
  interactivityForm,
  mentionEvent,
  nextSlackTs,
  postToSlackApp,
  slashCommand,
} from '../fakes/fake-slack-payloads.ts';
import { type FakeSlackServer, fakeSlackWorkspace } from '../fakes/fake-slack-server.ts';
import { eventually } from '../support/baton-harness.ts';
import { goalOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const environment = useTestEnvironment();
const { fake: openai } = environment;
const { slack, baton } = useSlackBaton({ environment, mode: 'http', handler: parentEchoes });

const parentRequestsSaying = (text: string) =>
  openai.requests.filter((request) => goalOf(request) === null && lastInputOf(request).includes(text));

describe('Slack in HTTP mode', () => {
  it('answers a signed app_mention in a thread under it, acknowledging within 3 s', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'what is the deploy status?' });
    const started = Date.now();
    const answer = await postToSlackApp(baton.adapter.url!, eventCallback(event));
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    const post = await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === event.ts);
    expect(post.params.channel).toBe('C0OPS');
    expect(post.params.text).toBe('Parent heard: Ada: what is the deploy status?');
    expect(post.token).toBe(fakeSlackWorkspace.botToken);
    expect(post.contentType).toContain('application/x-www-form-urlencoded');
    expect(baton.adapter.isHealthy()).toBe(true);
  });

  it('refuses a bad signature with 401 and never calls the model', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'forged request' });
    const answer = await postToSlackApp(baton.adapter.url!, eventCallback(event), {
      signature: `v0=${'0'.repeat(64)}`,
    });
    expect(answer.status).toBe(401);
    const wrongSecret = await postToSlackApp(baton.adapter.url!, eventCallback(event), {
      signingSecret: 'not-the-secret',
    });
    expect(wrongSecret.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(parentRequestsSaying('forged request')).toHaveLength(0);
  });

  it('refuses a correctly signed request that is six minutes old', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'replayed request' });
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 6 * 60;
    const answer = await postToSlackApp(baton.adapter.url!, eventCallback(event), {
      timestamp: sixMinutesAgo,
    });
    expect(answer.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(parentRequestsSaying('replayed request')).toHaveLength(0);
  });

  it('echoes the url_verification challenge', async () => {
    const answer = await postToSlackApp(baton.adapter.url!, {
      type: 'url_verification',
      challenge: 'abc123',
      token: 'x',
    });
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('abc123');
  });

  it('takes one turn for an event Slack delivers twice (x-slack-retry-num)', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'delivered twice' });
    const body = eventCallback(event, 'EvRETRIED01');
    expect((await postToSlackApp(baton.adapter.url!, body)).status).toBe(200);
    expect((await postToSlackApp(baton.adapter.url!, body, { retryNum: 1 })).status).toBe(200);
    await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === event.ts);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(parentRequestsSaying('delivered twice')).toHaveLength(1);
    expect(
      slack.callsTo('chat.postMessage').filter((call) => call.params.thread_ts === event.ts),
    ).toHaveLength(1);
  });

  it('answers /baton in the channel through its response_url, ephemerally when the reply is private', async () => {
    const responseUrl = slack.newResponseUrl();
    const form = slashCommand({ user: slackPeople.ada.id, text: 'help', responseUrl });
    const answer = await postToSlackApp(baton.adapter.url!, { form });
    expect(answer.status).toBe(200);
    const id = responseUrl.split('/').at(-1);
    const response = await slack.waitForResponse((post) => post.id === id);
    expect(response.body.response_type).toBe('ephemeral');
    expect(String(response.body.text)).toContain('Baton commands:');

    const tasksUrl = slack.newResponseUrl();
    await postToSlackApp(baton.adapter.url!, {
      form: slashCommand({ user: slackPeople.ada.id, text: 'tasks', responseUrl: tasksUrl }),
    });
    const listed = await slack.waitForResponse((post) => post.id === tasksUrl.split('/').at(-1));
    expect(listed.body).toMatchObject({ response_type: 'in_channel', text: 'No tasks in this channel yet.' });
  });

  it('redacts secrets in a /baton answer through its response_url, as every post is', async () => {
    const responseUrl = slack.newResponseUrl();
    const form = slashCommand({ user: slackPeople.ada.id, text: fakeSlackWorkspace.botToken, responseUrl });
    await postToSlackApp(baton.adapter.url!, { form });
    const response = await slack.waitForResponse((post) => post.id === responseUrl.split('/').at(-1));
    expect(String(response.body.text)).toContain('Unknown command');
    expect(String(response.body.text)).toContain('[redacted]');
    expect(String(response.body.text)).not.toContain(fakeSlackWorkspace.botToken);
  });

  it('takes board buttons as interactivity posts (a form with a JSON payload)', async () => {
    const thread = nextSlackTs();
    const press = blockActions({
      user: slackPeople.bob.id,
      messageTs: nextSlackTs(),
      threadTs: thread,
      actionId: refreshActionId,
      value: 't_absent1',
      responseUrl: slack.newResponseUrl(),
    });
    const answer = await postToSlackApp(baton.adapter.url!, interactivityForm(press));
    expect(answer.status).toBe(200);
    const note = await slack.waitForCall('chat.postEphemeral', (call) => call.params.thread_ts === thread);
    expect(note.params).toMatchObject({ user: slackPeople.bob.id, text: 'No task t_absent1 here.' });
  });

  it('posts once after a rate limit: the delivery layer waits Retry-After and retries', async () => {
    slack.failNext('chat.postMessage', { kind: 'ratelimited', retryAfterSeconds: 1 });
    const event = mentionEvent({ user: slackPeople.bob.id, text: 'rate limited reply' });
    await postToSlackApp(baton.adapter.url!, eventCallback(event));
    const inThread = () =>
      slack.callsTo('chat.postMessage').filter((call) => call.params.thread_ts === event.ts);
    await eventually(async () => (inThread().length === 2 ? true : undefined), 10_000, 'the retried post');
    expect(inThread()[1]!.at - inThread()[0]!.at).toBeGreaterThanOrEqual(950);
    expect([...slack.messages.values()].filter((message) => message.threadTs === event.ts)).toHaveLength(1);
  });

  it('sorts Web API failures into retryable and not for the delivery layer', async () => {
    const ref = { platform: 'slack', channel: 'C0OPS', thread: nextSlackTs() };
    const sendFailing = async (failure: Parameters<FakeSlackServer['failNext']>[1]) => {
      slack.failNext('chat.postMessage', failure);
      const error = await baton.adapter
        .send(ref, { kind: 'text', text: 'hello' })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PlatformSendError);
      return error as PlatformSendError;
    };
    const limited = await sendFailing({ kind: 'ratelimited', retryAfterSeconds: 7 });
    expect([limited.retryable, limited.retryAfterMs]).toEqual([true, 7000]);
    expect((await sendFailing({ kind: 'http', status: 503 })).retryable).toBe(true);
    expect((await sendFailing({ kind: 'drop' })).retryable).toBe(true);
    for (const error of ['channel_not_found', 'not_in_channel', 'invalid_auth']) {
      const refused = await sendFailing({ kind: 'error', error });
      expect(refused.retryable).toBe(false);
      expect(refused.message).toContain(error);
      expect(refused.message).not.toContain(fakeSlackWorkspace.botToken);
    }
  });

  it('edits a message in place with chat.update on its ts', async () => {
    const ref = { platform: 'slack', channel: 'C0OPS', thread: nextSlackTs() };
    const { messageId } = await baton.adapter.send(ref, { kind: 'text', text: 'first **draft**' });
    await baton.adapter.edit(ref, messageId, { kind: 'text', text: 'final **version**' });
    const update = await slack.waitForCall('chat.update', (call) => call.params.ts === messageId);
    expect(update.params.text).toBe('final \u200b*version*\u200b');
    expect(slack.messages.get(messageId)?.edits).toBe(1);
  });
});

describe('slackAdapterFromEnv', () => {
  const config = {
    require_mention_in_threads: false,
    http_host: '127.0.0.1',
    http_port: 0,
    command: '/baton',
  };
  const deps = { logger: createSilentLogger() };

  it('is null without SLACK_BOT_TOKEN, Socket Mode with an app token, HTTP mode with a signing secret', () => {
    expect(slackAdapterFromEnv({}, config, deps)).toBeNull();
    expect(slackAdapterFromEnv({ SLACK_BOT_TOKEN: '' }, config, deps)).toBeNull();
    const botToken = fakeSlackWorkspace.botToken;
    const socket = slackAdapterFromEnv(
      { SLACK_BOT_TOKEN: botToken, SLACK_APP_TOKEN: fakeSlackWorkspace.appToken },
      config,
      deps,
    );
    expect(socket?.mode).toBe('socket');
    const http = slackAdapterFromEnv(
      { SLACK_BOT_TOKEN: botToken, SLACK_SIGNING_SECRET: 'secret-value-1234' },
      config,
      deps,
    );
    expect(http?.mode).toBe('http');
  });

  it('is a clear config error with a bot token and neither an app token nor a signing secret', () => {
    let error: unknown;
    try {
      slackAdapterFromEnv({ SLACK_BOT_TOKEN: fakeSlackWorkspace.botToken }, config, deps);
    } catch (caught) {
      error = caught;
    }
    expect(isBatonError(error, 'config_invalid')).toBe(true);
    expect(String((error as Error).message)).toMatch(/SLACK_APP_TOKEN.*SLACK_SIGNING_SECRET/);
    expect(String((error as Error).message)).not.toContain(fakeSlackWorkspace.botToken);
  });
});
