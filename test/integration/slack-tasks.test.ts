import { describe, expect, it } from 'vitest';
import { cancelActionId, refreshActionId } from '../../adapters/slack/slack-board-blocks.ts';
import { hangReply, type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { slackPeople, useSlackBaton } from '../fakes/fake-slack-harness.ts';
import { blockActions, eventCallback, mentionEvent, slashCommand } from '../fakes/fake-slack-payloads.ts';
import type { SlackApiCall } from '../fakes/fake-slack-server.ts';
import { eventually } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const environment = useTestEnvironment();
const { fake: openai } = environment;

const quick = 'Look up who is on call';
const steerable = 'Summarise the incident timeline';
const cancellable = 'Collect every alert from last night';
const steerLine = '[Steering message from Ada]: Focus on the database failover';

const steersIn = (request: RecordedRequest) =>
  messagesOf(request).some((message) => String(message.content ?? '') === steerLine);

const { slack, baton } = useSlackBaton({
  environment,
  mode: 'socket',
  overrides: { delegation: { max_iterations: 200 } },
  handler: scriptByGoal(
    {
      [quick]: () => textReply('On call: **Grace**.'),
      // Keeps working until a steer reaches it, then finishes with it.
      [steerable]: async (request) => {
        if (steersIn(request)) return textReply('Timeline summarised, as asked: database failover first.');
        await new Promise((resolve) => setTimeout(resolve, 150));
        return toolCallReply([{ name: 'check_again', arguments: {} }]);
      },
      [cancellable]: () => hangReply(),
    },
    (request) =>
      messagesOf(request).at(-1)?.role === 'tool'
        ? textReply('Started three background tasks.')
        : toolCallReply(
            [quick, steerable, cancellable].map((goal) => ({
              name: 'delegate_task_async',
              arguments: { goal },
            })),
          ),
  ),
});

type Block = {
  type: string;
  block_id?: string;
  text?: { text: string };
  elements?: Array<Record<string, unknown>>;
};
const blocksOf = (call: SlackApiCall) => (call.params.blocks ?? []) as Block[];

describe('background tasks in a Slack thread', () => {
  it('posts results in the thread, keeps a board edited in place, steers, and cancels for the owner only', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'please start the incident work' });
    const thread = event.ts as string;
    await slack.sendEnvelope('events_api', eventCallback(event));
    const inThread = (call: SlackApiCall) => call.params.thread_ts === thread;

    await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && call.params.text === 'Started three background tasks.',
    );
    const toolRequest = openai.requests.find(
      (request) => goalOf(request) === null && messagesOf(request).at(-1)?.role === 'tool',
    );
    const [quickId, steerId, cancelId] = toolResultsOf(toolRequest!).map(
      (result) => (result as { task_id: string }).task_id,
    );

    // The board: Block Kit in the thread, with Cancel (confirmed, danger) and Refresh under running tasks.
    const board = await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && Array.isArray(call.params.blocks),
    );
    const boardTs = [...slack.messages.values()].find(
      (message) => message.blocks && message.threadTs === thread,
    )!.ts;
    expect(blocksOf(board)[0]!.type).toBe('header');
    expect(String(board.params.text)).toContain('Tasks');
    const cancelRow = blocksOf(board).find((block) => block.block_id === `actions:${cancelId}`);
    expect(cancelRow?.elements?.map((element) => element.action_id)).toEqual([
      cancelActionId,
      refreshActionId,
    ]);
    expect(cancelRow?.elements?.[0]).toMatchObject({
      value: cancelId,
      style: 'danger',
      confirm: expect.any(Object),
    });
    expect(blocksOf(board).find((block) => block.block_id === `task:${cancelId}`)?.text?.text).toContain(
      cancellable,
    );

    // The quick child's result lands in the thread it came from, as mrkdwn.
    const result = await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && String(call.params.text).includes('On call:'),
    );
    expect(String(result.params.text)).toContain(`Task ${quickId} completed`);
    expect(String(result.params.text)).toContain('On call: \u200b*Grace*\u200b.');

    // Edited in place: chat.update on the board's ts.
    await slack.waitForCall('chat.update', (call) => call.params.ts === boardTs);
    expect(
      slack.callsTo('chat.postMessage').filter((call) => inThread(call) && Array.isArray(call.params.blocks)),
    ).toHaveLength(1);

    // /baton merge reaches the command router: the quick child worked in no workspace.
    const mergeUrl = slack.newResponseUrl();
    await slack.sendEnvelope(
      'slash_commands',
      slashCommand({ user: slackPeople.ada.id, text: `merge ${quickId}`, responseUrl: mergeUrl }),
    );
    const merged = await slack.waitForResponse((post) => post.id === mergeUrl.split('/').at(-1));
    expect(merged.body).toMatchObject({
      response_type: 'ephemeral',
      text: `${quickId} worked in no workspace; there is nothing to merge`,
    });

    // /baton steer reaches the running child in its next model request.
    const steerUrl = slack.newResponseUrl();
    await slack.sendEnvelope(
      'slash_commands',
      slashCommand({
        user: slackPeople.ada.id,
        text: `steer ${steerId} Focus on the database failover`,
        responseUrl: steerUrl,
      }),
    );
    const steered = await slack.waitForResponse((post) => post.id === steerUrl.split('/').at(-1));
    expect(steered.body).toMatchObject({
      response_type: 'ephemeral',
      text: `Steering message queued for ${steerId}.`,
    });
    await eventually(
      async () =>
        openai.requests.some((request) => goalOf(request) === steerable && steersIn(request))
          ? true
          : undefined,
      10_000,
      'the steer in a child request',
    );
    await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && String(call.params.text).includes('database failover first'),
    );

    // Refresh: an ephemeral status line for the presser.
    const press = (user: string, actionId: string) =>
      slack.sendEnvelope(
        'interactive',
        blockActions({
          user,
          messageTs: boardTs,
          threadTs: thread,
          actionId,
          value: cancelId!,
          responseUrl: slack.newResponseUrl(),
        }),
      );
    const since = slack.calls.length;
    await press(slackPeople.ada.id, refreshActionId);
    const status = await slack.waitForCall('chat.postEphemeral', (call) => inThread(call), { since });
    expect(status.params.user).toBe(slackPeople.ada.id);
    expect(String(status.params.text)).toContain(`${cancelId} · running`);

    // status by Bob (not the owner) after a mention in the thread: privately, status and timing only.
    const bobStatusSince = slack.calls.length;
    await slack.sendEnvelope(
      'events_api',
      eventCallback(mentionEvent({ user: slackPeople.bob.id, threadTs: thread, text: `status ${quickId}` })),
    );
    const bobStatus = await slack.waitForCall('chat.postEphemeral', (call) => inThread(call), {
      since: bobStatusSince,
    });
    expect(bobStatus.params.user).toBe(slackPeople.bob.id);
    expect(String(bobStatus.params.text)).toMatch(new RegExp(`^${quickId} · completed · \\d+s$`));

    // Cancel by Bob (allowed in Baton, but not the task's owner): refused ephemerally, task runs on.
    const bobSince = slack.calls.length;
    await press(slackPeople.bob.id, cancelActionId);
    const refusal = await slack.waitForCall('chat.postEphemeral', (call) => inThread(call), {
      since: bobSince,
    });
    expect(refusal.params.user).toBe(slackPeople.bob.id);
    expect(String(refusal.params.text)).toContain(
      `Only the task's owner or an admin can cancel ${cancelId}.`,
    );
    expect((await baton.runtime.store.get(cancelId!))?.status).toBe('running');

    // Cancel by Ada, the owner: the task stops, the thread is told, the board settles without buttons.
    await press(slackPeople.ada.id, cancelActionId);
    await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && String(call.params.text).startsWith(`Cancelled ${cancelId}`),
    );
    expect((await baton.runtime.store.get(cancelId!))?.status).toBe('cancelled');
    expect(openai.requests.find((request) => goalOf(request) === cancellable)?.aborted).toBe(true);
    await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && String(call.params.text).includes(`Task ${cancelId} was cancelled`),
    );
    const settled = await slack.waitForCall(
      'chat.update',
      (call) => call.params.ts === boardTs && String(blocksOf(call)[0]?.text?.text).includes('all done'),
    );
    expect(blocksOf(settled).some((block) => block.type === 'actions')).toBe(false);
  });
});
