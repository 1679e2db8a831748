import { describe, expect, it } from 'vitest';
import { slackPeople, useSlackBaton } from '../fakes/fake-slack-harness.ts';
import {
  blockActions,
  eventCallback,
  interactivityForm,
  mentionEvent,
  postToSlackApp,
  slashCommand,
} from '../fakes/fake-slack-payloads.ts';
import type { SlackApiCall } from '../fakes/fake-slack-server.ts';
import { eventually } from '../support/baton-harness.ts';
import { childAsksThenFinishes, goalOf, messagesOf, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 11 on Slack, end to end: a child asks with two choices, the question is drawn with a button each, the
 * owner presses one and the child goes on with that answer; someone who may not steer the task is refused,
 * privately, and nothing changes.
 */
const environment = useTestEnvironment();
const { fake: openai } = environment;

type Block = { type: string; elements?: Array<{ action_id?: string; value?: string }> };

describe.each(['socket', 'http'] as const)('a child asks in a Slack thread (%s mode)', (mode) => {
  const goal = `Paint the deploy button (${mode} mode)`;
  const { slack, baton } = useSlackBaton({
    environment,
    mode,
    handler: childAsksThenFinishes(goal, {
      question: 'Which colour should the button be?',
      choices: ['red', 'blue'],
    }),
  });

  const deliver = async (type: 'events_api' | 'interactive', payload: Record<string, unknown>) => {
    if (mode === 'socket') await slack.sendEnvelope(type, payload);
    else {
      const body = type === 'interactive' ? interactivityForm(payload) : payload;
      expect((await postToSlackApp(baton.adapter.url!, body)).status).toBe(200);
    }
  };

  const childRequests = () => openai.requests.filter((request) => goalOf(request) === goal);

  it('the owner’s button press answers it, another person’s is refused privately; `/baton steer` follows up', async () => {
    const event = mentionEvent({ user: slackPeople.ada.id, text: 'paint the deploy button please' });
    const thread = event.ts as string;
    await deliver('events_api', eventCallback(event));
    const inThread = (call: SlackApiCall) => call.params.thread_ts === thread;
    const promptPost = await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && JSON.stringify(call.params.blocks ?? []).includes('baton_prompt_'),
      { timeoutMs: 20_000 },
    );
    const buttons = ((promptPost.params.blocks ?? []) as Block[]).find((block) => block.type === 'actions')!
      .elements!;
    const taskId = /answer (t_\w+) #1/.exec(String(buttons[0]!.value))![1]!;
    expect(buttons.map((button) => button.value)).toEqual([`answer ${taskId} #1`, `answer ${taskId} #2`]);
    expect((await baton.runtime.store.get(taskId))?.status).toBe('waiting_input');
    const promptTs = [...slack.messages.values()].find(
      (message) =>
        message.threadTs === thread && JSON.stringify(message.blocks ?? []).includes('baton_prompt_'),
    )!.ts;
    const press = (user: string) =>
      blockActions({
        user,
        messageTs: promptTs,
        threadTs: thread,
        actionId: 'baton_prompt_2',
        value: String(buttons[1]!.value),
        responseUrl: slack.newResponseUrl(),
      });

    // Bob may use Baton but not steer Ada's task: an ephemeral refusal, and the task still waits.
    await deliver('interactive', press(slackPeople.bob.id));
    const refusal = await slack.waitForCall(
      'chat.postEphemeral',
      (call) => inThread(call) && call.params.user === slackPeople.bob.id,
    );
    expect(String(refusal.params.text)).toContain('Only the task');
    expect((await baton.runtime.store.get(taskId))?.status).toBe('waiting_input');
    expect(childRequests()).toHaveLength(1);

    // Ada presses "blue": the child's next model request carries the answer, naming her.
    await deliver('interactive', press(slackPeople.ada.id));
    await eventually(async () => (childRequests().length === 2 ? true : undefined), 20_000);
    expect(toolResultsOf(childRequests()[1]!).at(-1)).toEqual({ answer: 'blue', answered_by: 'Ada' });
    const result = await slack.waitForCall(
      'chat.postMessage',
      (call) => inThread(call) && String(call.params.text).includes(`Task ${taskId} completed`),
      { timeoutMs: 20_000 },
    );
    expect(String(result.params.text)).toContain('blue');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const results = slack
      .callsTo('chat.postMessage')
      .filter((call) => inThread(call) && String(call.params.text).includes(`Task ${taskId} completed`));
    expect(results).toHaveLength(1);
    // The question was edited once to say who answered what, its buttons removed.
    await slack.waitForCall('chat.update', (call) => call.params.ts === promptTs, { timeoutMs: 20_000 });
    const edits = slack.callsTo('chat.update').filter((call) => call.params.ts === promptTs);
    expect(edits).toHaveLength(1);
    const editedBlocks = (edits[0]!.params.blocks ?? []) as Block[];
    expect(editedBlocks.some((block) => block.type === 'actions')).toBe(false);
    expect(JSON.stringify(editedBlocks.at(-1))).toContain('💬 Answered by Ada: #2 blue');
    // The question was posted once.
    expect(
      slack
        .callsTo('chat.postMessage')
        .filter(
          (call) => inThread(call) && JSON.stringify(call.params.blocks ?? []).includes('baton_prompt_'),
        ),
    ).toHaveLength(1);

    // A follow-up by `/baton steer` reopens the completed task: a second round, its result posted once more.
    const steerUrl = slack.newResponseUrl();
    const steer = slashCommand({
      user: slackPeople.ada.id,
      text: `steer ${taskId} also check X`,
      responseUrl: steerUrl,
    });
    if (mode === 'socket') await slack.sendEnvelope('slash_commands', steer);
    else await postToSlackApp(baton.adapter.url!, { form: steer });
    const reopened = await slack.waitForResponse((post) => post.id === steerUrl.split('/').at(-1));
    expect(reopened.body).toMatchObject({
      response_type: 'in_channel',
      text: expect.stringContaining('round 2'),
    });
    await eventually(async () => (childRequests().length === 3 ? true : undefined), 20_000);
    expect(JSON.stringify(messagesOf(childRequests()[2]!).at(-1))).toContain('also check X');
    const secondResult = await slack.waitForCall(
      'chat.postMessage',
      (call) =>
        inThread(call) &&
        String(call.params.text).includes(`Task ${taskId} completed`) &&
        String(call.params.text).includes('round 2'),
      { timeoutMs: 20_000 },
    );
    expect(String(secondResult.params.text)).toContain('Painted it');
  });
});
