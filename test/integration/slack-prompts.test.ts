import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import type { OutboundMessage, TaskPrompt } from '../../src/gateway/chat-adapter.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { slackPeople } from '../fakes/fake-slack-harness.ts';
import {
  blockActions,
  interactivityForm,
  nextSlackTs,
  postToSlackApp,
} from '../fakes/fake-slack-payloads.ts';
import {
  type FakeSlackServer,
  fakeSlackWorkspace,
  type SlackApiCall,
  startFakeSlackServer,
} from '../fakes/fake-slack-server.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, eventually } from '../support/baton-harness.ts';
import { sampleApproval, sampleQuestion } from '../support/sample-prompts.ts';

type Block = {
  type: string;
  block_id?: string;
  text?: { text: string };
  elements?: Array<{ action_id?: string; value?: string; style?: string; text?: { text: string } | string }>;
};
const blocksOf = (call: SlackApiCall) => (call.params.blocks ?? []) as Block[];

const approval = sampleApproval('{"command":"rm -rf build/ && echo ```done```"}');

const promptMessage = (prompt: TaskPrompt): OutboundMessage => ({
  kind: 'prompt',
  prompt,
  fallbackText: `Task ${prompt.taskId} asks: ${prompt.text}`,
  idempotencyKey: `prompt:${prompt.taskId}:1`,
});

describe.each(['socket', 'http'] as const)('prompts in Slack (%s mode)', (mode) => {
  let slack: FakeSlackServer;
  let adapter: SlackAdapter;
  const sink = new RecordingSink();

  beforeAll(async () => {
    slack = await startFakeSlackServer();
    for (const person of Object.values(slackPeople)) slack.setUserName(person.id, person.name);
    adapter = new SlackAdapter({
      botToken: fakeSlackWorkspace.botToken,
      ...(mode === 'socket'
        ? { appToken: fakeSlackWorkspace.appToken }
        : { signingSecret: fakeSlackWorkspace.signingSecret }),
      apiUrl: slack.apiUrl,
      config: buildTestConfig({ slack: { http_host: '127.0.0.1', http_port: 0 } }).slack,
      logger: createSilentLogger(),
    });
    sink.adapter = adapter;
    await adapter.start(sink);
    if (mode === 'socket') await slack.waitForSocket(1);
  });
  afterAll(async () => {
    await adapter?.stop();
    await slack?.close();
  });

  const press = async (payload: Record<string, unknown>) => {
    if (mode === 'socket') await slack.sendEnvelope('interactive', payload);
    else expect((await postToSlackApp(adapter.url!, interactivityForm(payload))).status).toBe(200);
  };

  it('draws a question with one button per choice and says how to answer in words', async () => {
    const thread = nextSlackTs();
    const { messageId } = await adapter.send(
      { platform: 'slack', channel: 'C0OPS', thread },
      promptMessage(sampleQuestion),
    );
    const posted = await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === thread);
    expect(messageId).toBe(slack.messages.get(messageId)?.ts);
    expect(String(posted.params.text)).toContain('Which window');
    const blocks = blocksOf(posted);
    expect(blocks[0]!.text!.text).toContain('`t_ask2q9` asks');
    expect(blocks[0]!.text!.text).toContain('for Ada');
    expect(blocks[0]!.text!.text).toContain('Pick the rollout window');
    expect(blocks[1]!.text!.text).toBe('Which window should the rollout use?');
    const buttons = blocks.find((block) => block.type === 'actions')!.elements!;
    expect(buttons.map((button) => [button.action_id, button.value])).toEqual([
      ['baton_prompt_1', 'answer t_ask2q9 #1'],
      ['baton_prompt_2', 'answer t_ask2q9 #2'],
    ]);
    const label = (buttons[1]!.text as { text: string }).text;
    expect(label.length).toBeLessThanOrEqual(75);
    expect(label.endsWith('…')).toBe(true);
    const context = JSON.stringify(blocks.at(-1));
    expect(context).toContain('/baton answer t_ask2q9 <text>');
    expect(context).toContain('answer t_ask2q9 <text>` in this thread');
    expect(context).toContain('<!date^1893553440^');
  });

  it('draws an approval with the exact action, Approve (primary) and Deny (danger)', async () => {
    const thread = nextSlackTs();
    await adapter.send({ platform: 'slack', channel: 'C0OPS', thread }, promptMessage(approval));
    const posted = await slack.waitForCall('chat.postMessage', (call) => call.params.thread_ts === thread);
    const blocks = blocksOf(posted);
    expect(blocks[0]!.text!.text).toContain('asks for approval');
    expect(blocks[1]!.text!.text).toContain('*Tool* `terminal` in workspace `app`');
    // The arguments in a code block, escaped for mrkdwn, a fence inside them defused.
    expect(blocks[1]!.text!.text).toContain(
      '```{"command":"rm -rf build/ &amp;&amp; echo `\u200b``done`\u200b``"}```',
    );
    const buttons = blocks.find((block) => block.type === 'actions')!.elements!;
    expect(buttons.map((button) => [button.value, button.style])).toEqual([
      ['approve t_apr7k2', 'primary'],
      ['deny t_apr7k2', 'danger'],
    ]);
    expect(JSON.stringify(blocks.at(-1))).toContain('/baton deny t_apr7k2 <reason>');
  });

  it('edits a settled prompt in place: no buttons, a context line saying how it was settled', async () => {
    const thread = nextSlackTs();
    const ref = { platform: 'slack', channel: 'C0OPS', thread };
    const { messageId } = await adapter.send(ref, promptMessage(approval));
    const settled: TaskPrompt = {
      ...approval,
      outcome: { kind: 'denied', text: 'Denied by Bob — terminal: not on *prod* <now>', at: Date.now() },
    };
    await adapter.edit(ref, messageId, {
      kind: 'prompt',
      prompt: settled,
      fallbackText: 'Task t_apr7k2 waited for approval. ❌ Denied by Bob',
    });
    const update = await slack.waitForCall('chat.update', (call) => call.params.ts === messageId);
    expect(update.params).toMatchObject({
      channel: 'C0OPS',
      text: 'Task t_apr7k2 waited for approval. ❌ Denied by Bob',
    });
    const blocks = blocksOf(update);
    expect(blocks.some((block) => block.type === 'actions')).toBe(false);
    expect(blocks[0]!.text!.text).toContain('asked for approval');
    expect(blocks[1]!.text!.text).toContain('*Tool* `terminal` in workspace `app`');
    const context = blocks.at(-1)!;
    expect(context).toMatchObject({ type: 'context', block_id: 'prompt-outcome:t_apr7k2' });
    expect(JSON.stringify(context)).toContain('❌ Denied by Bob — terminal: not on *prod* &lt;now&gt;');
    expect(JSON.stringify(context)).not.toContain('/baton deny');
    // The fake keeps the message as edited: its buttons are gone.
    expect(JSON.stringify(slack.messages.get(messageId)?.blocks)).not.toContain('baton_prompt_');
  });

  it('sends a pressed choice to the sink as the presser; a refusal is shown to them only', async () => {
    const thread = nextSlackTs();
    const messageTs = nextSlackTs();
    sink.answer = (command) => ({
      text:
        command.user.id === slackPeople.bob.id
          ? `Only the task's owner or an admin can answer t_ask2q9.`
          : 'Answer recorded.',
      ephemeral: command.user.id === slackPeople.bob.id,
    });
    const since = slack.calls.length;
    await press(
      blockActions({
        user: slackPeople.bob.id,
        messageTs,
        threadTs: thread,
        actionId: 'baton_prompt_2',
        value: 'answer t_ask2q9 #2',
        responseUrl: slack.newResponseUrl(),
      }),
    );
    await eventually(async () => (sink.commands.length > 0 ? true : undefined));
    expect(sink.commands.at(-1)).toMatchObject({
      ref: { platform: 'slack', channel: 'C0OPS', thread },
      user: { id: slackPeople.bob.id, name: 'Bob' },
      text: 'answer t_ask2q9 #2',
      eventId: expect.stringMatching(/^trigger:/),
    });
    const note = await slack.waitForCall('chat.postEphemeral', (call) => call.params.thread_ts === thread);
    expect(note.params).toMatchObject({ user: slackPeople.bob.id, text: expect.stringContaining('Only') });
    expect(slack.calls.slice(since).filter((call) => call.method === 'chat.postMessage')).toHaveLength(0);

    // Ada's Approve: accepted, said in the thread.
    await press(
      blockActions({
        user: slackPeople.ada.id,
        messageTs,
        threadTs: thread,
        actionId: 'baton_prompt_1',
        value: 'approve t_apr7k2',
        responseUrl: slack.newResponseUrl(),
      }),
    );
    await slack.waitForCall(
      'chat.postMessage',
      (call) => call.params.thread_ts === thread && call.params.text === 'Answer recorded.',
    );
    expect(sink.commands.at(-1)).toMatchObject({
      user: { id: slackPeople.ada.id },
      text: 'approve t_apr7k2',
    });
  });

  it('ignores a prompt button whose value is not one of the three commands', async () => {
    const before = sink.commands.length;
    await press(
      blockActions({
        user: slackPeople.ada.id,
        messageTs: nextSlackTs(),
        threadTs: nextSlackTs(),
        actionId: 'baton_prompt_1',
        value: 'cancel t_ask2q9',
        responseUrl: slack.newResponseUrl(),
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sink.commands.length).toBe(before);
  });
});
