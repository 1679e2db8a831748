import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ChatUser,
  type ConversationRef,
  type OutboundMessage,
  promptButtons,
} from '../../src/gateway/chat-adapter.ts';
import { deliveryQueueName } from '../../src/gateway/delivery/delivery-service.ts';
import { promptOutcomeJobId } from '../../src/gateway/delivery/endings-pump.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { RecordingAdapter, retryableFailure } from '../fakes/recording-adapter.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { startRoutedGateway } from '../support/gateway-harness.ts';
import { scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';
import { UnkeyedRecordingAdapter } from '../support/unkeyed-adapter.ts';

/*
 * A settled prompt's message is edited in place to say how it was settled (answered, approved, denied, timed
 * out, the task cancelled), without buttons, exactly once: through the real gateway, command router,
 * endings outbox, delivery queue and worker, and across a gateway restart between the settlement and the edit.
 */
const { fake, redis, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

type PromptMessage = Extract<OutboundMessage, { kind: 'prompt' }>;
const ada: ChatUser = { id: 'u1', name: 'Ada', roleIds: [] };
const bob: ChatUser = { id: 'bob', name: 'Bob', roleIds: [] };

/** A runtime and its worker, and a gateway on `adapter` (a plain RecordingAdapter unless given). */
async function setUp(thread: string, approvals: Record<string, unknown> = {}, adapter?: RecordingAdapter) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'baton-prompt-outcomes-'));
  const runtime = await startRuntime(
    buildTestConfig(
      testConfigLayer(fake, {
        access: { allowed_users: ['u1', 'bob'], task_control: 'channel' },
        approvals: { required_for: ['terminal'], approvers: 'channel', ...approvals },
        tools: { terminal: { sandbox: 'none' } },
        workspace: { root: path.join(root, 'worktrees'), store: path.join(root, 'store.git') },
      }),
    ),
  );
  await runtime.startWorker();
  const started = await startGateway(runtime, thread, adapter);
  return { runtime, ...started };
}

async function startGateway(runtime: BatonRuntime, thread: string, adapter = new RecordingAdapter()) {
  const { gateway } = await startRoutedGateway(runtime, adapter);
  gateways.push(gateway);
  const here: ConversationRef = { platform: 'test', channel: 'c1', thread };
  const command = (user: ChatUser, text: string) => gateway.onCommand({ ref: here, user, text });
  return { gateway, adapter, command };
}

/** A child whose first step runs a command (which needs approval), then reports the tool's result. */
function scriptCommand(goal: string) {
  fake.setHandler(
    scriptByGoal({
      [goal]: (request, call) =>
        call === 1
          ? toolCallReply([{ name: 'terminal', arguments: { command: 'echo hello' } }])
          : textReply(`result ${JSON.stringify(toolResultsOf(request).at(-1))}`),
    }),
  );
}

/** A child whose first step asks a question with two choices. */
function scriptQuestion(goal: string, timeoutSeconds?: number) {
  fake.setHandler(
    scriptByGoal({
      [goal]: (request, call) =>
        call === 1
          ? toolCallReply([
              {
                name: 'ask_user',
                arguments: {
                  question: 'Which environment?',
                  choices: ['production', 'staging'],
                  ...(timeoutSeconds === undefined ? {} : { timeout_s: timeoutSeconds }),
                },
              },
            ])
          : textReply(`done ${JSON.stringify(toolResultsOf(request).at(-1))}`),
    }),
  );
}

const promptPosts = (adapter: RecordingAdapter) =>
  adapter.posts.filter((post) => post.message.kind === 'prompt');

/** Stops a gateway of this test (no longer stopped after it). */
async function stopGateway(gateway: Gateway) {
  await gateway.stop();
  gateways.splice(gateways.indexOf(gateway), 1);
}

/** Until the settled prompt's edit job of the task's first round has run. */
async function waitForOutcomeJob(runtime: BatonRuntime, taskId: string) {
  const outcomeJob = `${runtime.config.redis.prefix}:${deliveryQueueName}:${promptOutcomeJobId(taskId, 1)}`;
  await eventually(
    async () => ((await redis.client.hget(outcomeJob, 'finishedOn')) ? true : undefined),
    20_000,
    'the edit job',
  );
}

/** Dispatches a task with `goal` in `thread` whose child asks a question (see scriptQuestion): its id. */
async function ask(runtime: BatonRuntime, thread: string, goal: string): Promise<string> {
  scriptQuestion(goal);
  const [task] = await runtime.service.dispatch(testCaller(thread), [{ goal }]);
  return task!.id;
}

async function waitForStatus(runtime: BatonRuntime, id: string, status: string) {
  await eventually(
    async () => ((await runtime.store.get(id))?.status === status ? true : undefined),
    20_000,
    status,
  );
}

/** The one edit of the prompt posted as `messageId`, once it comes; then a while to catch a second. */
async function onlyEditOf(adapter: RecordingAdapter, messageId: string): Promise<PromptMessage> {
  await eventually(
    async () => (adapter.edits.some((edit) => edit.messageId === messageId) ? true : undefined),
    20_000,
    `the edit of ${messageId}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  const edits = adapter.edits.filter((edit) => edit.messageId === messageId);
  expect(edits).toHaveLength(1);
  const message = edits[0]!.message;
  if (message.kind !== 'prompt') throw new Error(`edited to a ${message.kind}`);
  expect(promptButtons(message.prompt)).toEqual([]);
  return message;
}

describe('settled prompts are edited in place', () => {
  it('an answer by a button’s command: "Answered by Ada: #2 staging", buttons gone', async () => {
    const thread = 'outcome-answer';
    const { runtime, adapter, command } = await setUp(thread);
    const id = await ask(runtime, thread, 'pick an environment');
    const posted = await eventually(async () => promptPosts(adapter)[0]);
    expect(promptButtons((posted.message as PromptMessage).prompt)).toHaveLength(2);
    await command(ada, `answer ${id} #2`);
    const edited = await onlyEditOf(adapter, posted.messageId);
    expect(edited.prompt).toMatchObject({
      taskId: id,
      kind: 'question',
      text: 'Which environment?',
      outcome: { kind: 'answered', text: 'Answered by Ada: #2 staging' },
    });
    expect(edited.fallbackText).toContain('💬 Answered by Ada: #2 staging');
    expect(edited.fallbackText).not.toContain('/baton answer');
    await runtime.service.waitForEnd([id], 20_000);
    // A press that comes late is refused, and nothing is edited again.
    const late = await command(bob, `answer ${id} #1`);
    expect(late).toMatchObject({ ephemeral: true, text: expect.stringMatching(/not waiting/) });
    expect(adapter.edits.filter((edit) => edit.messageId === posted.messageId)).toHaveLength(1);
  });

  it('an answer in words keeps the words (secrets redacted)', async () => {
    const thread = 'outcome-words';
    const { runtime, adapter, command } = await setUp(thread);
    const id = await ask(runtime, thread, 'pick in words');
    const posted = await eventually(async () => promptPosts(adapter)[0]);
    await command(bob, `answer ${id} the canary, key sk-live0123456789abcdefghij`);
    const edited = await onlyEditOf(adapter, posted.messageId);
    expect(edited.prompt.outcome?.text).toMatch(/^Answered by Bob: the canary, key /);
    expect(JSON.stringify(edited)).not.toContain('sk-live0123456789abcdefghij');
  });

  it('Approve and Deny: "Approved by Ada — terminal", "Denied by Bob — terminal: not on prod"', async () => {
    const thread = 'outcome-decisions';
    const { runtime, adapter, command } = await setUp(thread);
    scriptCommand('approve me');
    const [first] = await runtime.service.dispatch(testCaller(thread), [
      { goal: 'approve me', toolsets: ['terminal'] },
    ]);
    await waitForStatus(runtime, first!.id, 'waiting_approval');
    const approvalPost = await eventually(async () => promptPosts(adapter)[0]);
    expect(promptButtons((approvalPost.message as PromptMessage).prompt)).toHaveLength(2);
    await command(ada, `approve ${first!.id}`);
    const approved = await onlyEditOf(adapter, approvalPost.messageId);
    expect(approved.prompt).toMatchObject({
      kind: 'approval',
      action: { tool: 'terminal', arguments: JSON.stringify({ command: 'echo hello' }) },
      outcome: { kind: 'approved', text: 'Approved by Ada — terminal' },
    });
    expect(approved.fallbackText).toContain('✅ Approved by Ada — terminal');
    expect(approved.fallbackText).not.toContain('/baton approve');
    await runtime.service.waitForEnd([first!.id], 20_000);

    scriptCommand('deny me');
    const [second] = await runtime.service.dispatch(testCaller(thread), [
      { goal: 'deny me', toolsets: ['terminal'] },
    ]);
    await waitForStatus(runtime, second!.id, 'waiting_approval');
    const denialPost = await eventually(async () =>
      promptPosts(adapter).find(
        (post) => post.message.kind === 'prompt' && post.message.prompt.taskId === second!.id,
      ),
    );
    await command(bob, `deny ${second!.id} not on prod`);
    const denied = await onlyEditOf(adapter, denialPost.messageId);
    expect(denied.prompt.outcome).toMatchObject({
      kind: 'denied',
      text: 'Denied by Bob — terminal: not on prod',
    });
    expect(denied.fallbackText).toContain('❌ Denied by Bob — terminal: not on prod');
    await runtime.service.waitForEnd([second!.id], 20_000);
    // The first prompt was edited once, not again by the second's settlement.
    expect(adapter.edits.filter((edit) => edit.messageId === approvalPost.messageId)).toHaveLength(1);
  });

  it('a question nobody answers in time: "No answer in time (1 s)"; an approval: denied', async () => {
    const thread = 'outcome-timeouts';
    const { runtime, adapter } = await setUp(thread, { timeout_s: 1 });
    scriptCommand('wait for nobody');
    const [task] = await runtime.service.dispatch(testCaller(thread), [
      { goal: 'wait for nobody', toolsets: ['terminal'] },
    ]);
    const posted = await eventually(async () => promptPosts(adapter)[0], 20_000);
    const edited = await onlyEditOf(adapter, posted.messageId);
    expect(edited.prompt.outcome).toMatchObject({
      kind: 'timed_out',
      text: 'No decision in time (1 s): denied',
    });
    expect(edited.fallbackText).toContain('⏱ No decision in time (1 s): denied');
    await runtime.service.waitForEnd([task!.id], 20_000);

    scriptQuestion('ask nobody', 1);
    const [asked] = await runtime.service.dispatch(testCaller(thread), [{ goal: 'ask nobody' }]);
    const question = await eventually(async () => promptPosts(adapter)[1], 20_000);
    const expired = await onlyEditOf(adapter, question.messageId);
    expect(expired.prompt.outcome).toMatchObject({ kind: 'timed_out', text: 'No answer in time (1 s)' });
    await runtime.service.waitForEnd([asked!.id], 20_000);
  });

  it('a cancelled task’s prompt says so', async () => {
    const thread = 'outcome-cancel';
    const { runtime, adapter, command } = await setUp(thread);
    const id = await ask(runtime, thread, 'cancel me');
    const posted = await eventually(async () => promptPosts(adapter)[0]);
    await command(ada, `cancel ${id}`);
    const edited = await onlyEditOf(adapter, posted.messageId);
    expect(edited.prompt.outcome).toMatchObject({
      kind: 'cancelled',
      text: 'No longer waiting: cancelled by Ada',
    });
    expect(edited.fallbackText).toContain('🚫 No longer waiting: cancelled by Ada');
  });

  it('a gateway restarted between the answer and the edit edits the message once', async () => {
    const thread = 'outcome-restart';
    const { runtime, gateway, adapter } = await setUp(thread);
    const id = await ask(runtime, thread, 'answer while down');
    const posted = await eventually(async () => promptPosts(adapter)[0]);
    // No gateway runs while Ada answers (from another surface's command, say): the outbox keeps it.
    await stopGateway(gateway);
    await runtime.service.answer(testCaller(thread), id, '#1');
    await runtime.service.waitForEnd([id], 20_000);
    expect(adapter.edits).toHaveLength(0);
    // The adapter is the same platform: its messages outlive the gateway process.
    const restarted = new RecordingAdapter();
    await startGateway(runtime, thread, restarted);
    await eventually(
      async () => (restarted.edits.length > 0 ? true : undefined),
      20_000,
      'the edit after the restart',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(restarted.edits).toHaveLength(1);
    expect(restarted.edits[0]!.messageId).toBe(posted.messageId);
    const message = restarted.edits[0]!.message as PromptMessage;
    expect(message.prompt.outcome).toMatchObject({
      kind: 'answered',
      text: 'Answered by Ada: #1 production',
    });
    // The result was posted once, by the restarted gateway; the question was not posted again.
    expect(promptPosts(restarted)).toHaveLength(0);
  });

  it('an edit the platform refused for now is made once by the next gateway after a restart', async () => {
    const thread = 'outcome-retry';
    // The first gateway's platform is down for edits: each attempt fails with a retryable error.
    class EditsDown extends RecordingAdapter {
      editAttempts = 0;
      override async edit(): Promise<void> {
        this.editAttempts += 1;
        throw retryableFailure(200);
      }
    }
    const down = new EditsDown();
    const { runtime, gateway: first } = await setUp(thread, {}, down);
    const id = await ask(runtime, thread, 'edit after a restart');
    const posted = await eventually(async () => promptPosts(down)[0]);
    await runtime.service.answer(testCaller(thread), id, '#2');
    await eventually(async () => (down.editAttempts > 0 ? true : undefined), 20_000, 'a failed edit');
    await stopGateway(first);
    const restarted = new RecordingAdapter();
    await startGateway(runtime, thread, restarted);
    const edited = await onlyEditOf(restarted, posted.messageId);
    expect(edited.prompt.outcome).toMatchObject({ kind: 'answered', text: 'Answered by Ada: #2 staging' });
    expect(restarted.edits).toHaveLength(1);
    expect(promptPosts(restarted)).toHaveLength(0);
  });

  it('a prompt settled before any gateway posted it is never posted, nor edited', async () => {
    const thread = 'outcome-unposted';
    const { runtime, gateway, adapter } = await setUp(thread);
    await stopGateway(gateway);
    const id = await ask(runtime, thread, 'answer before posting');
    await waitForStatus(runtime, id, 'waiting_input');
    await runtime.service.answer(testCaller(thread), id, 'staging');
    await runtime.service.waitForEnd([id], 20_000);
    const restarted = new RecordingAdapter();
    await startGateway(runtime, thread, restarted);
    await eventually(async () => (restarted.textsIn(thread).length > 0 ? true : undefined), 20_000, 'result');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(promptPosts(restarted)).toHaveLength(0);
    expect(restarted.edits).toHaveLength(0);
    expect(adapter.posts).toHaveLength(0);
  });

  it('an answer that comes while the prompt is being posted still gets its edit, once', async () => {
    const thread = 'outcome-race';
    const posting = deferred<void>();
    const release = deferred<void>();
    // The platform holds the prompt's post until the answer is recorded and its edit job has run.
    class SlowPrompts extends RecordingAdapter {
      override async send(ref: ConversationRef, message: OutboundMessage) {
        if (message.kind === 'prompt') {
          posting.resolve();
          await release.promise;
        }
        return super.send(ref, message);
      }
    }
    const adapter = new SlowPrompts();
    const { runtime } = await setUp(thread, {}, adapter);
    const id = await ask(runtime, thread, 'answer mid-post');
    await posting.promise;
    await runtime.service.answer(testCaller(thread), id, '#2');
    // The edit job has found nothing posted yet: it leaves the edit to the post.
    await waitForOutcomeJob(runtime, id);
    expect(adapter.edits).toHaveLength(0);
    release.resolve();
    const posted = await eventually(async () => promptPosts(adapter)[0]);
    const edited = await onlyEditOf(adapter, posted.messageId);
    expect(edited.prompt.outcome).toMatchObject({ text: 'Answered by Ada: #2 staging' });
    expect(promptPosts(adapter)).toHaveLength(1);
  });

  it('a prompt the platform posted but no gateway recorded, settled before the retry, is found and edited once', async () => {
    const thread = 'outcome-unrecorded';
    const answered = deferred<void>();
    const posting = deferred<void>();
    // A platform whose creates take no key (as Slack's): the message lands, and the answer carrying its id
    // is lost once the prompt is settled; the platform can be asked what it shows.
    class Unkeyed extends UnkeyedRecordingAdapter {
      override async send(ref: ConversationRef, message: OutboundMessage) {
        const sent = await super.send(ref, message);
        if (
          message.kind === 'prompt' &&
          this.posts.filter((post) => post.message.kind === 'prompt').length === 1
        ) {
          posting.resolve();
          await answered.promise;
          // Not a platform refusal: the delivery job is retried, as after its gateway died.
          throw new Error('the answer was lost');
        }
        return sent;
      }
    }
    const adapter = new Unkeyed();
    const { runtime } = await setUp(thread, {}, adapter);
    const id = await ask(runtime, thread, 'answer an unrecorded prompt');
    await posting.promise;
    await runtime.service.answer(testCaller(thread), id, '#2');
    // The edit job finds no message recorded: it leaves the edit to the post.
    await waitForOutcomeJob(runtime, id);
    answered.resolve();
    const posted = promptPosts(adapter)[0]!;
    const edited = await onlyEditOf(adapter, posted.messageId);
    expect(edited.prompt.outcome).toMatchObject({ text: 'Answered by Ada: #2 staging' });
    expect(promptPosts(adapter)).toHaveLength(1);
  });
});
