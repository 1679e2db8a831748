import { describe, expect, it } from 'vitest';
import { cancelActionId, refreshActionId } from '../../adapters/slack/slack-board-blocks.ts';
import { parentEchoes, slackPeople, useSlackBaton } from '../fakes/fake-slack-harness.ts';
import {
  blockActions,
  eventCallback,
  mentionEvent,
  nextSlackTs,
  slashCommand,
} from '../fakes/fake-slack-payloads.ts';
import { fakeSlackWorkspace } from '../fakes/fake-slack-server.ts';
import { eventually } from '../support/baton-harness.ts';
import { goalOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const environment = useTestEnvironment();
const { fake: openai } = environment;
const { slack, baton } = useSlackBaton({ environment, mode: 'socket', handler: parentEchoes });

describe('Slack in Socket Mode', () => {
  it('connects with the app token and is healthy once Slack said hello', async () => {
    await slack.waitForSocket(1);
    const open = slack.callsTo('apps.connections.open');
    expect(open).toHaveLength(1);
    expect(open[0]!.token).toBe(fakeSlackWorkspace.appToken);
    expect(slack.callsTo('auth.test')[0]!.token).toBe(fakeSlackWorkspace.botToken);
    expect(baton.adapter.isHealthy()).toBe(true);
    expect(baton.adapter.url).toBeNull();
  });

  it('acks an events_api envelope at once, then answers the mention in its thread', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'hello over the socket' });
    const ack = await slack.sendEnvelope('events_api', eventCallback(event));
    expect(ack.payload).toBeUndefined();
    expect(ack.afterMs).toBeLessThan(3000);
    const post = await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === event.ts);
    expect(post.params.text).toBe('Parent heard: Ada: hello over the socket');
  });

  it('acks a slash_commands envelope, then answers through the response_url', async () => {
    const responseUrl = slack.newResponseUrl();
    const ack = await slack.sendEnvelope(
      'slash_commands',
      slashCommand({ user: slackPeople.bob.id, text: 'status t_zzzz99', responseUrl }),
    );
    expect(ack.afterMs).toBeLessThan(3000);
    const response = await slack.waitForResponse((post) => post.id === responseUrl.split('/').at(-1));
    expect(response.body).toMatchObject({ response_type: 'ephemeral', text: 'No task t_zzzz99 here.' });
  });

  it('acks an interactive envelope (a board button), then answers ephemerally in the thread', async () => {
    const thread = nextSlackTs();
    const ack = await slack.sendEnvelope(
      'interactive',
      blockActions({
        user: slackPeople.ada.id,
        messageTs: nextSlackTs(),
        threadTs: thread,
        actionId: refreshActionId,
        value: 't_gone42',
        responseUrl: slack.newResponseUrl(),
      }),
    );
    expect(ack.afterMs).toBeLessThan(3000);
    const note = await slack.waitForCall('chat.postEphemeral', (call) => call.params.thread_ts === thread);
    expect(note.params).toMatchObject({
      channel: 'C0OPS',
      user: slackPeople.ada.id,
      text: 'No task t_gone42 here.',
    });
  });

  it('refuses a button press by someone not allowed, without a model call', async () => {
    const thread = nextSlackTs();
    const before = openai.requests.length;
    await slack.sendEnvelope(
      'interactive',
      blockActions({
        user: slackPeople.mallory.id,
        messageTs: nextSlackTs(),
        threadTs: thread,
        actionId: cancelActionId,
        value: 't_abcd12',
        responseUrl: slack.newResponseUrl(),
      }),
    );
    const note = await slack.waitForCall('chat.postEphemeral', (call) => call.params.thread_ts === thread);
    expect(note.params.user).toBe(slackPeople.mallory.id);
    expect(String(note.params.text)).toContain("You're not allowed to use Baton here.");
    expect(openai.requests.filter((request) => goalOf(request) === null).length).toBe(before);
  });

  it('reconnects after the socket drops: unhealthy meanwhile, events flow again after', async () => {
    slack.dropSockets();
    await eventually(async () => (baton.adapter.isHealthy() ? undefined : true), 5000, 'unhealthy');
    await slack.waitForSocket(2, 15_000);
    await eventually(async () => (baton.adapter.isHealthy() ? true : undefined), 5000, 'healthy again');
    expect(slack.callsTo('apps.connections.open')).toHaveLength(2);
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'still there?' });
    await slack.sendEnvelope('events_api', eventCallback(event));
    await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === event.ts);
  });
});
