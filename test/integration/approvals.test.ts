import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/errors.ts';
import type { ChatUser, ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { startRoutedGateway } from '../support/gateway-harness.ts';
import { goalOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 11: tools listed in approvals.required_for wait for a person's decision before they run: Approve
 * runs the call once, Deny and a time-out return a tool error with the reason, and only people decide.
 */
const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

const ada: ChatUser = { id: 'u1', name: 'Ada', roleIds: [] };
const bob: ChatUser = { id: 'bob', name: 'Bob', roleIds: [] };
const caller = testCaller('approval-thread');
const here: ConversationRef = { platform: 'test', channel: 'c1', thread: 'approval-thread' };

async function setUp(approvals: Record<string, unknown> = {}, terminal: Record<string, unknown> = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'baton-approvals-'));
  const runtime = await startRuntime(
    buildTestConfig(
      testConfigLayer(fake, {
        access: { allowed_users: ['u1', 'bob'], task_control: 'channel' },
        approvals: { required_for: ['terminal'], ...approvals },
        tools: { terminal: { sandbox: 'none', ...terminal } },
        workspace: { root: path.join(root, 'worktrees'), store: path.join(root, 'store.git') },
      }),
    ),
  );
  await runtime.startWorker();
  const { gateway, adapter } = await startRoutedGateway(runtime);
  gateways.push(gateway);
  const command = (user: ChatUser, text: string) => gateway.onCommand({ ref: here, user, text });
  const marker = path.join(root, 'marker.txt');
  return { runtime, adapter, command, marker };
}

/** A child that runs one terminal command (appending a line to `marker`), then reports the tool's result. */
function scriptCommand(goal: string, command: string) {
  fake.setHandler(
    scriptByGoal({
      [goal]: (request, call) =>
        call === 1
          ? toolCallReply([{ name: 'terminal', arguments: { command } }])
          : textReply(`result ${JSON.stringify(toolResultsOf(request).at(-1))}`),
    }),
  );
}

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

async function waitForStatus(
  runtime: Awaited<ReturnType<typeof setUp>>['runtime'],
  id: string,
  status: string,
) {
  await eventually(
    async () => ((await runtime.store.get(id))?.status === status ? true : undefined),
    20_000,
    status,
  );
}

describe('approvals', () => {
  it('posts exactly what will run; Approve by the owner runs it once, others are refused', async () => {
    const { runtime, adapter, command, marker } = await setUp();
    scriptCommand('append a line', `echo approved >> ${marker}`);
    const [task] = await runtime.service.dispatch(caller, [
      { goal: 'append a line', toolsets: ['terminal'] },
    ]);
    const id = task!.id;
    await waitForStatus(runtime, id, 'waiting_approval');
    expect(lines(marker)).toEqual([]);
    const prompt = await eventually(async () =>
      adapter.posts.map((post) => post.message).find((message) => message.kind === 'prompt'),
    );
    const posted = prompt as Extract<OutboundMessage, { kind: 'prompt' }>;
    expect(posted.prompt).toMatchObject({
      kind: 'approval',
      taskId: id,
      action: { tool: 'terminal', arguments: JSON.stringify({ command: `echo approved >> ${marker}` }) },
    });
    expect(posted.fallbackText).toContain(`/baton approve ${id}`);
    expect(posted.fallbackText).toContain(`/baton deny ${id}`);

    // task_control is channel, so Bob may steer it, but approvers default to the owner.
    const refused = await command(bob, `approve ${id}`);
    expect(refused).toMatchObject({
      ephemeral: true,
      text: expect.stringMatching(/approvals\.approvers: owner/),
    });
    const wrong = await command(ada, `answer ${id} yes`);
    expect(wrong).toMatchObject({
      ephemeral: true,
      text: expect.stringMatching(/not waiting for an answer/),
    });
    expect((await runtime.store.get(id))!.status).toBe('waiting_approval');

    const approved = await command(ada, `approve ${id}`);
    expect(approved).toMatchObject({
      ephemeral: false,
      text: `Ada approved terminal for ${id}; it runs now.`,
    });
    const { records } = await runtime.service.waitForEnd([id], 20_000);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toMatch(/"exit_code":0/);
    expect(lines(marker)).toEqual(['approved']);
    const again = await command(ada, `approve ${id}`);
    expect(again).toMatchObject({
      ephemeral: true,
      text: expect.stringMatching(/not waiting for a decision/),
    });
    const events = await runtime.store.recentEvents(id, 50);
    const decided = events.find((event) => event.type === 'approval-decided');
    expect(decided!.text).toBe('terminal approved by Ada');
  });

  it('Deny returns the reason to the model and the tool never runs', async () => {
    const { runtime, adapter, command, marker } = await setUp({ approvers: 'channel' });
    scriptCommand('risky append', `TOKEN=sk-live0123456789abcdefghij echo denied >> ${marker}`);
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'risky append', toolsets: ['terminal'] }]);
    await waitForStatus(runtime, task!.id, 'waiting_approval');
    // What will run is shown with the secret redacted, in the prompt and in the task's events.
    const prompt = await eventually(async () =>
      adapter.posts.map((post) => post.message).find((message) => message.kind === 'prompt'),
    );
    expect(JSON.stringify(prompt)).not.toContain('sk-live0123456789abcdefghij');
    expect(JSON.stringify(prompt)).toContain('echo denied');
    const asked = await runtime.store.recentEvents(task!.id, 50);
    expect(JSON.stringify(asked)).not.toContain('sk-live0123456789abcdefghij');
    // approvers: channel lets Bob decide.
    const denied = await command(bob, `deny ${task!.id} not on a Friday`);
    expect(denied).toMatchObject({ ephemeral: false, text: expect.stringContaining('Bob denied terminal') });
    const { records } = await runtime.service.waitForEnd([task!.id], 20_000);
    expect(records[0]!.summary).toBe(
      'result {"error":"terminal was not run: Bob denied it. Reason: not on a Friday"}',
    );
    expect(lines(marker)).toEqual([]);
    const events = await runtime.store.recentEvents(task!.id, 50);
    expect(events.find((event) => event.type === 'approval-decided')!.text).toBe(
      'terminal denied by Bob: not on a Friday',
    );
  });

  it('no decision within approvals.timeout_s is a denial', async () => {
    const { runtime, marker } = await setUp({ timeout_s: 1 });
    scriptCommand('slow approval', `echo late >> ${marker}`);
    const [task] = await runtime.service.dispatch(caller, [
      { goal: 'slow approval', toolsets: ['terminal'] },
    ]);
    const { records } = await runtime.service.waitForEnd([task!.id], 20_000);
    expect(records[0]!.summary).toMatch(
      /terminal was not run: nobody approved it within 1 s \(approvals\.timeout_s\)/,
    );
    expect(lines(marker)).toEqual([]);
  });

  it('a batch waiting on a question and an approval waits on each in turn, keeping the first response', async () => {
    const { runtime, adapter, command, marker } = await setUp();
    fake.setHandler(
      scriptByGoal({
        'ask and act': (request, call) =>
          call === 1
            ? toolCallReply([
                { name: 'ask_user', arguments: { question: 'Which line?' } },
                { name: 'terminal', arguments: { command: `echo both >> ${marker}` } },
              ])
            : textReply(`results ${JSON.stringify(toolResultsOf(request))}`),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'ask and act', toolsets: ['terminal'] }]);
    const id = task!.id;
    await waitForStatus(runtime, id, 'waiting_input');
    // (A prompt whose wait is over before the gateway posts it is not posted: wait for it here.)
    await eventually(async () => adapter.posts.find((post) => post.message.kind === 'prompt'));
    // A steer sent while it waits is read when it goes on.
    await runtime.service.steer(caller, id, 'keep it short');
    await command(ada, `answer ${id} the second`);
    await waitForStatus(runtime, id, 'waiting_approval');
    expect((await runtime.store.get(id))!.prompt!.round).toBe(2);
    expect(lines(marker)).toEqual([]);
    await eventually(async () =>
      adapter.posts.filter((post) => post.message.kind === 'prompt').length === 2 ? true : undefined,
    );
    await command(ada, `approve ${id}`);
    const { records } = await runtime.service.waitForEnd([id], 20_000);
    const results = JSON.parse(records[0]!.summary!.replace(/^results /, '')) as Array<
      Record<string, unknown>
    >;
    expect(results[0]).toEqual({ answer: 'the second', answered_by: 'Ada' });
    expect(results[1]).toMatchObject({ exit_code: 0 });
    expect(lines(marker)).toEqual(['both']);
    const prompts = adapter.posts.filter((post) => post.message.kind === 'prompt');
    expect(
      prompts.map((post) => (post.message.kind === 'prompt' ? post.message.idempotencyKey : '')),
    ).toEqual([`prompt:${id}:1`, `prompt:${id}:2`]);
    const second = fake.requests.filter((request) => goalOf(request) === 'ask and act')[1]!;
    expect(JSON.stringify(second.body?.messages)).toContain('keep it short');
  });

  it('with approve_patterns only matching commands wait; nothing a model or child calls can approve', async () => {
    const { runtime, marker } = await setUp({}, { approve_patterns: ['\\brm\\b'] });
    fake.setHandler(
      scriptByGoal({
        'tidy up': (request, call) =>
          call === 1
            ? toolCallReply([{ name: 'terminal', arguments: { command: `echo safe >> ${marker}` } }])
            : call === 2
              ? toolCallReply([{ name: 'terminal', arguments: { command: `rm -f ${marker}` } }])
              : textReply(`result ${JSON.stringify(toolResultsOf(request).at(-1))}`),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'tidy up', toolsets: ['terminal'] }]);
    await waitForStatus(runtime, task!.id, 'waiting_approval');
    expect(lines(marker)).toEqual(['safe']);
    // No tool of a child or the parent decides approvals...
    const offered = fake.requests
      .filter((request) => goalOf(request) === 'tidy up')
      .flatMap((request) =>
        (request.body?.tools ?? []).map((tool) => (tool as { function: { name: string } }).function.name),
      );
    const parentTools = runtime.parentTools().map((tool) => tool.name);
    for (const name of [...offered, ...parentTools]) expect(name).not.toMatch(/approv|deny|decide|answer/);
    // ...and the task service refuses a decision made on behalf of a task.
    const asChild = await runtime.service
      .decide({ ...caller, callerTaskId: task!.id, depth: 1 }, task!.id, true)
      .catch((error: unknown) => error);
    expect(isBatonError(asChild, 'access_denied')).toBe(true);
    const withoutPerson = await runtime.service
      .decide({ ...caller, actor: undefined }, task!.id, true)
      .catch((error: unknown) => error);
    expect(isBatonError(withoutPerson, 'access_denied')).toBe(true);
    expect((await runtime.store.get(task!.id))!.status).toBe('waiting_approval');
    await runtime.service.cancel(caller, task!.id);
    expect(lines(marker)).toEqual(['safe']);
  });
});
