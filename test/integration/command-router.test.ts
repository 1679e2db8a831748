import { describe, expect, it, vi } from 'vitest';
import { BatonError } from '../../src/errors.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import type { ChatUser, CommandReply, ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { CommandRouter, parseCommand } from '../../src/gateway/command-router.ts';
import type { Logger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import type { TaskStore } from '../../src/tasks/task-store.ts';
import { formatDuration } from '../../src/tasks/task-views.ts';
import { textReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
let runtime: BatonRuntime;
let router: CommandRouter;

const ada: ChatUser = { id: 'ada', name: 'Ada', roleIds: [] };
const bob: ChatUser = { id: 'bob', name: 'Bob', roleIds: [] };
const boss: ChatUser = { id: 'boss', name: 'Boss', roleIds: [] };
const mallory: ChatUser = { id: 'mallory', name: 'Mallory', roleIds: [] };
const here: ConversationRef = { platform: 'test', channel: 'c1', thread: 'th1' };

const access = { allowed_users: ['ada', 'bob'], admin_users: ['boss'], task_control: 'owner' };

async function newRuntime(overrides: Record<string, unknown> = {}): Promise<void> {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake, { access, ...overrides })));
  router = new CommandRouter({
    service: runtime.service,
    store: runtime.store,
    access: new AccessPolicy(runtime.config.access),
  });
}

/** The parent agent of a thread, started by `owner`: what a person's message in that thread would do. */
function parentOf(ref: ConversationRef, owner: ChatUser = ada): TaskCaller {
  return {
    sessionKey: `${ref.platform}:${ref.channel}:${ref.thread}`,
    origin: { ...ref, user: owner.id, userName: owner.name },
    callerTaskId: null,
    depth: 0,
    displayName: owner.name,
  };
}

async function dispatchOne(goal: string, ref = here, owner = ada): Promise<TaskRecord> {
  const [task] = await runtime.service.dispatch(parentOf(ref, owner), [{ goal }]);
  return task!;
}

function say(user: ChatUser, text: string, ref = here): Promise<CommandReply> {
  return router.handle({ user, ref, text });
}

async function statusOf(taskId: string): Promise<string | undefined> {
  return (await runtime.store.get(taskId))?.status;
}

describe('parseCommand', () => {
  it.each([
    ['tasks', { name: 'tasks' }],
    ['  TASKS  ', { name: 'tasks' }],
    ['help', { name: 'help' }],
    ['Help me please', { name: 'help' }],
    ['', { name: 'help' }],
    ['status t_7k2m9q', { name: 'status', taskId: 't_7k2m9q' }],
    ['Status   T_7K2M9Q', { name: 'status', taskId: 't_7k2m9q' }],
    ['cancel `t_7k2m9q`', { name: 'cancel', taskId: 't_7k2m9q' }],
    ['collect t_7k2m9q', { name: 'collect', taskId: 't_7k2m9q' }],
    ['steer t_7k2m9q focus on errors', { name: 'steer', taskId: 't_7k2m9q', message: 'focus on errors' }],
    [
      'STEER  t_7k2m9q   only the EU region,\n  then stop  ',
      { name: 'steer', taskId: 't_7k2m9q', message: 'only the EU region,\n  then stop' },
    ],
    ['answer t_7k2m9q #2', { name: 'answer', taskId: 't_7k2m9q', text: '#2' }],
    [
      'Answer `T_7K2M9Q`  use the Blue one ',
      { name: 'answer', taskId: 't_7k2m9q', text: 'use the Blue one' },
    ],
    ['approve t_7k2m9q', { name: 'approve', taskId: 't_7k2m9q' }],
    ['deny t_7k2m9q', { name: 'deny', taskId: 't_7k2m9q' }],
    [
      'DENY t_7k2m9q not on prod,\nplease',
      { name: 'deny', taskId: 't_7k2m9q', reason: 'not on prod,\nplease' },
    ],
  ])('%j → %j', (text, expected) => {
    expect(parseCommand(text)).toEqual(expected);
  });

  it.each([
    ['steer t_7k2m9q', 'Usage: steer <task id> <message>'],
    ['steer', 'Usage: steer <task id> <message>'],
    ['steer t_abc', 'Usage: steer <task id> <message> (task ids look like t_7k2m9q)'],
    ['steer nonsense do things', 'Usage: steer <task id> <message> (task ids look like t_7k2m9q)'],
    ['status', 'Usage: status <task id>'],
    ['cancel nonsense', 'Usage: cancel <task id> (task ids look like t_7k2m9q)'],
    ['cancel t_7k2m9q now', 'Usage: cancel <task id>'],
    ['collect T_!!', 'Usage: collect <task id> (task ids look like t_7k2m9q)'],
    ['tasks t_7k2m9q', 'Usage: tasks'],
    ['answer t_7k2m9q', 'Usage: answer <task id> <text> (or #<choice number>)'],
    [
      'answer yes please',
      'Usage: answer <task id> <text> (or #<choice number>) (task ids look like t_7k2m9q)',
    ],
    ['approve t_7k2m9q now', 'Usage: approve <task id>'],
    ['approve', 'Usage: approve <task id>'],
    ['deny nonsense', 'Usage: deny <task id> [reason] (task ids look like t_7k2m9q)'],
    [
      'frobnicate t_7k2m9q',
      'Unknown command "frobnicate". Try: tasks, status <task id>, steer <task id> <message>, ' +
        'cancel <task id>, collect <task id>, merge <task id>, answer <task id> <text> (or #<choice number>), ' +
        'approve <task id>, deny <task id> [reason], usage, help.',
    ],
  ])('%j → %s', (text, error) => {
    expect(parseCommand(text)).toEqual({ error });
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [42.9, '42s'],
    [60, '1m 00s'],
    [123, '2m 03s'],
    [3599, '59m 59s'],
    [3900, '1h 05m'],
  ])('%d s → %s', (seconds, expected) => {
    expect(formatDuration(seconds)).toBe(expected);
  });
});

describe('CommandRouter', () => {
  it('refuses a user who is not allowed, without touching the task', async () => {
    await newRuntime();
    const task = await dispatchOne('private work');
    const refusal = {
      ephemeral: true,
      text: "You're not allowed to use Baton here. Ask an admin to add you.",
    };
    for (const text of ['tasks', `status ${task.id}`, `steer ${task.id} stop`, `cancel ${task.id}`, 'help']) {
      expect(await say(mallory, text)).toEqual(refusal);
    }
    expect(await statusOf(task.id)).toBe('queued');
    expect(await runtime.store.readInbox(task.id, '0-0')).toEqual([]);
  });

  it('lets only the owner (or an admin) steer a task', async () => {
    await newRuntime();
    const task = await dispatchOne('survey the logs');
    expect(await say(bob, `steer ${task.id} look at warnings instead`)).toEqual({
      ephemeral: true,
      text: `Only the task's owner or an admin can steer ${task.id}.`,
    });
    expect(await runtime.store.readInbox(task.id, '0-0')).toEqual([]);

    expect(await say(ada, `steer ${task.id} only look at errors`)).toEqual({
      ephemeral: true,
      text: `Steering message queued for ${task.id}.`,
    });
    const inbox = await runtime.store.readInbox(task.id, '0-0');
    expect(inbox.map(({ from, text }) => ({ from, text }))).toEqual([
      { from: 'Ada', text: 'only look at errors' },
    ]);
  });

  it('lets only the owner or an admin cancel a task', async () => {
    await newRuntime();
    const mine = await dispatchOne('long survey');
    expect(await say(bob, `cancel ${mine.id}`)).toEqual({
      ephemeral: true,
      text: `Only the task's owner or an admin can cancel ${mine.id}.`,
    });
    expect(await statusOf(mine.id)).toBe('queued');

    expect(await say(ada, `cancel ${mine.id}`)).toEqual({ ephemeral: false, text: `Cancelled ${mine.id}.` });
    expect(await statusOf(mine.id)).toBe('cancelled');
    expect(await say(ada, `cancel ${mine.id}`)).toEqual({
      ephemeral: true,
      text: `${mine.id} already cancelled.`,
    });

    const bobs = await dispatchOne('bob asked for this', { ...here, thread: 'th2' }, bob);
    expect(await say(boss, `cancel ${bobs.id}`)).toEqual({ ephemeral: false, text: `Cancelled ${bobs.id}.` });
    expect(await statusOf(bobs.id)).toBe('cancelled');
  });

  it('counts the tasks a cancelled task had started', async () => {
    await newRuntime({ delegation: { max_spawn_depth: 2 } });
    const parent = await dispatchOne('orchestrate');
    await runtime.store.transition(parent, 'running');
    const [child] = await runtime.service.dispatch(
      { ...parentOf(here), callerTaskId: parent.id, depth: 1, displayName: `task ${parent.id}` },
      [{ goal: 'sub job' }],
    );
    expect(await say(ada, `cancel ${parent.id}`)).toEqual({
      ephemeral: false,
      text: `Cancelled ${parent.id} (and 1 task it started).`,
    });
    expect(await statusOf(child!.id)).toBe('cancelled');
  });

  it('lets an admin role steer and uses task_control admins', async () => {
    await newRuntime({ access: { ...access, admin_roles: ['ops-lead'], task_control: 'admins' } });
    const task = await dispatchOne('audit');
    expect(await say(ada, `steer ${task.id} hurry`)).toEqual({
      ephemeral: true,
      text: `Only an admin can steer ${task.id}.`,
    });
    const lead: ChatUser = { id: 'carol', name: 'Carol', roleIds: ['ops-lead'] };
    expect((await say(lead, `steer ${task.id} hurry`)).text).toBe(`Steering message queued for ${task.id}.`);
    expect((await runtime.store.readInbox(task.id, '0-0')).map((message) => message.from)).toEqual(['Carol']);
  });

  it('answers unknown ids and other channels’ tasks in one line, touching nothing', async () => {
    await newRuntime();
    const elsewhere = await dispatchOne('other channel work', {
      platform: 'test',
      channel: 'c2',
      thread: 'x',
    });
    const otherPlatform = await dispatchOne('slack work', { platform: 'slack', channel: 'c1', thread: 'x' });
    // An id that exists elsewhere gets the same answer as one that does not exist (issue 8 §3).
    for (const verb of ['status', 'cancel', 'collect']) {
      expect(await say(ada, `${verb} t_zzzz99`)).toEqual({ ephemeral: true, text: 'No task t_zzzz99 here.' });
      for (const task of [elsewhere, otherPlatform]) {
        expect(await say(ada, `${verb} ${task.id}`)).toEqual({
          ephemeral: true,
          text: `No task ${task.id} here.`,
        });
      }
    }
    expect(await say(ada, `steer ${elsewhere.id} hello`)).toEqual({
      ephemeral: true,
      text: `No task ${elsewhere.id} here.`,
    });
    expect(await statusOf(elsewhere.id)).toBe('queued');
    expect(await statusOf(otherPlatform.id)).toBe('queued');
    expect(await runtime.store.readInbox(elsewhere.id, '0-0')).toEqual([]);
  });

  it('answers malformed commands with a private usage line', async () => {
    await newRuntime();
    expect(await say(ada, 'steer t_abcd')).toEqual({
      ephemeral: true,
      text: 'Usage: steer <task id> <message>',
    });
    expect(await say(ada, 'cancel nonsense')).toEqual({
      ephemeral: true,
      text: 'Usage: cancel <task id> (task ids look like t_7k2m9q)',
    });
    const unknown = await say(ada, 'frobnicate');
    expect(unknown.ephemeral).toBe(true);
    expect(unknown.text).toMatch(/^Unknown command "frobnicate"\. Try: tasks, status <task id>, .*help\.$/);
    const help = await say(ada, 'help');
    expect(help.ephemeral).toBe(true);
    for (const word of ['tasks', 'status', 'steer', 'cancel', 'collect', 'merge'])
      expect(help.text).toContain(word);
  });

  it("lists this channel's tasks, newest first, at most 15", async () => {
    // One person starts 21 tasks here, more than the default per-person quota.
    await newRuntime({ quotas: { max_active_tasks_per_user: null } });
    const channelLevel = { ...here, thread: here.channel };
    expect(await say(ada, 'tasks', channelLevel)).toEqual({
      ephemeral: false,
      text: 'No tasks in this channel yet.',
    });
    const goals: string[] = [];
    for (let batch = 0; batch < 4; batch += 1) {
      const ref = { ...here, thread: `thread-${batch}` };
      const specifications = Array.from({ length: 5 }, (_, index) => ({ goal: `job ${batch}-${index}` }));
      await runtime.service.dispatch(parentOf(ref), specifications);
      goals.push(...specifications.map((specification) => specification.goal));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await dispatchOne('not in this channel', { ...here, channel: 'c9' });

    const reply = await say(bob, 'tasks', channelLevel);
    expect(reply.ephemeral).toBe(false);
    const lines = reply.text.split('\n');
    expect(lines).toHaveLength(16);
    expect(lines.at(-1)).toBe('…and 5 more');
    for (const line of lines.slice(0, 15)) {
      expect(line).toMatch(/^t_[a-z0-9]+ · queued · \d+s · 0 steps · job \d-\d$/);
    }
    const listedBatches = lines.slice(0, 15).map((line) => Number(/job (\d)/.exec(line)![1]));
    expect(listedBatches.slice(0, 5)).toEqual([3, 3, 3, 3, 3]);
    expect([...listedBatches].sort().reverse()).toEqual(listedBatches);
    expect(listedBatches).not.toContain(0);
    expect(reply.text).not.toContain('not in this channel');
  });

  it('scopes listings to the thread, or to the channel’s threads the asker may see (issue 8 §3)', async () => {
    await newRuntime();
    const channelLevel = { ...here, thread: here.channel };
    const secret: ConversationRef = { ...here, thread: 'secret', privateThread: true };
    const open = await dispatchOne('open work');
    const other = await dispatchOne('other thread work', { ...here, thread: 'th2' });
    const hidden = await dispatchOne('confidential merger work', secret);
    expect(hidden.origin.privateThread).toBe(true);

    // In a thread: that thread's tasks only.
    const inThread = await say(bob, 'tasks');
    expect(inThread.text).toContain(open.id);
    expect(inThread.text).not.toContain(other.id);
    expect(inThread.text).not.toContain(hidden.id);
    // At the channel: every public thread's tasks, and a private thread's only for its members.
    const members = new Set(['ada']);
    const isMemberFor = (user: ChatUser) => async (thread: string) =>
      thread === 'secret' && members.has(user.id);
    const forBob = await router.handle({ user: bob, ref: channelLevel, text: 'tasks' }, isMemberFor(bob));
    expect(forBob.text).toContain(open.id);
    expect(forBob.text).toContain(other.id);
    expect(forBob.text).not.toContain(hidden.id);
    expect(forBob.text).not.toContain('merger');
    const forAda = await router.handle({ user: ada, ref: channelLevel, text: 'tasks' }, isMemberFor(ada));
    expect(forAda.text).toContain(hidden.id);
    // Without the platform's answer a private thread's tasks show only inside it.
    expect((await say(ada, 'tasks', channelLevel)).text).not.toContain(hidden.id);
    expect((await say(ada, 'tasks', secret)).text).toContain(hidden.id);

    // By id, from outside the private thread, a non-member gets the answer an unknown id gets.
    const bobAsks = (text: string) => router.handle({ user: bob, ref: channelLevel, text }, isMemberFor(bob));
    expect(await bobAsks(`status ${hidden.id}`)).toEqual({
      ephemeral: true,
      text: `No task ${hidden.id} here.`,
    });
    expect(await bobAsks('status t_zzzz99')).toEqual({ ephemeral: true, text: 'No task t_zzzz99 here.' });
    const adaAsks = await router.handle(
      { user: ada, ref: channelLevel, text: `status ${hidden.id}` },
      isMemberFor(ada),
    );
    expect(adaAsks.text).toContain('confidential merger work');
  });

  it('shows the owner one private status line with the last event', async () => {
    await newRuntime();
    const task = await dispatchOne('check the deploy logs for the EU region');
    const reply = await say(ada, `status ${task.id}`);
    expect(reply.ephemeral).toBe(true);
    const [line, last, ...rest] = reply.text.split('\n');
    expect(line).toMatch(
      new RegExp(`^${task.id} · queued · \\d+s · 0 steps · check the deploy logs for the EU region$`),
    );
    expect(last).toMatch(/^last: waiting for a worker \(\d+s ago\)$/);
    expect(rest).toEqual([]);
  });

  it('collects a finished task’s full summary, and status shows it capped', async () => {
    await newRuntime();
    await runtime.startWorker();
    const answer = `The answer is 42. ${'Details follow. '.repeat(40)}`.trim();
    fake.setHandler(scriptByGoal({ 'compute the answer': () => textReply(answer) }));
    const task = await dispatchOne('compute the answer');
    const { records } = await runtime.service.waitForEnd([task.id], 10_000);
    expect(records[0]!.status).toBe('completed');

    const collected = await say(ada, `collect ${task.id}`);
    expect(collected.ephemeral).toBe(false);
    const [line, blank, ...body] = collected.text.split('\n');
    expect(line).toMatch(new RegExp(`^${task.id} · completed · \\d+s · 1 step · compute the answer$`));
    expect(blank).toBe('');
    expect(body.join('\n')).toBe(answer);

    const status = await say(ada, `status ${task.id}`);
    const [summary, notice] = status.text.split('\n').slice(-2);
    expect(summary!.startsWith('The answer is 42.')).toBe(true);
    expect(summary!.length).toBeLessThanOrEqual(300);
    expect(summary!.endsWith('…')).toBe(true);
    // A cut result says so, and how to read all of it.
    expect(notice).toBe(`_(cut to 300 characters: \`collect ${task.id}\` shows all of it)_`);

    expect(status.ephemeral).toBe(true);

    // Bob may not collect it, so his status shows no result, goal or events: status and timing only, privately.
    const seenByBob = await say(bob, `status ${task.id}`);
    expect(seenByBob.ephemeral).toBe(true);
    expect(seenByBob.text).toMatch(new RegExp(`^${task.id} · completed · \\d+s$`));
    expect(seenByBob.text).not.toContain('42');

    expect(await say(bob, `collect ${task.id}`)).toEqual({
      ephemeral: true,
      text: `Only the task's owner or an admin can collect ${task.id}.`,
    });
    expect(await say(ada, `cancel ${task.id}`)).toEqual({
      ephemeral: true,
      text: `${task.id} already completed.`,
    });
    // A steer is a follow-up: it reopens the completed task, for whoever may steer it, and says so in the thread.
    expect((await say(bob, `steer ${task.id} more`)).ephemeral).toBe(true);
    expect((await runtime.store.get(task.id))?.status).toBe('completed');
    expect(await say(ada, `steer ${task.id} more`)).toEqual({
      ephemeral: false,
      text: `Reopened ${task.id} with your follow-up (round 2); its new result will be posted here.`,
    });
    const reopened = await runtime.service.waitForEnd([task.id], 10_000);
    expect(reopened.records[0]).toMatchObject({ status: 'completed', followUpRound: 2 });
  });

  it('collects a queued or running task without waiting for it', async () => {
    await newRuntime();
    const queued = await dispatchOne('waiting in line');
    let started = performance.now();
    expect(await say(ada, `collect ${queued.id}`)).toEqual({
      ephemeral: true,
      text: `${queued.id} is still queued (0s, 0 steps); its result will be posted in its thread when it ends.`,
    });
    expect(performance.now() - started).toBeLessThan(1000);

    const release = deferred();
    fake.setHandler(
      scriptByGoal({
        'slow job': async () => {
          await release.promise;
          return textReply('slow done');
        },
      }),
    );
    await runtime.startWorker();
    const running = await dispatchOne('slow job');
    await eventually(async () => ((await statusOf(running.id)) === 'running' ? true : undefined));
    started = performance.now();
    const reply = await say(ada, `collect ${running.id}`);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(reply.ephemeral).toBe(true);
    expect(reply.text).toMatch(
      new RegExp(
        `^${running.id} is still running \\(\\d+s, 0 steps\\); its result will be posted in its thread`,
      ),
    );
    release.resolve();
    expect((await runtime.service.waitForEnd([running.id], 10_000)).records[0]!.status).toBe('completed');
  });

  it.each([
    ['a plain error', new Error('connection reset')],
    ['a system-fault BatonError', new BatonError('redis_unavailable', 'redis at 10.0.0.5:6379 refused')],
  ])('turns an unexpected failure (%s) into one generic line, logged', async (_name, failure) => {
    await newRuntime();
    const task = await dispatchOne('anything');
    const brokenStore = Object.create(runtime.store) as TaskStore;
    brokenStore.get = () => Promise.reject(failure);
    const logger = { error: vi.fn() } as unknown as Logger;
    const broken = new CommandRouter({
      service: runtime.service,
      store: brokenStore,
      access: new AccessPolicy(runtime.config.access),
      logger,
    });
    expect(await broken.handle({ user: ada, ref: here, text: `status ${task.id}` })).toEqual({
      ephemeral: true,
      text: 'Something went wrong handling that command.',
    });
    expect(logger.error).toHaveBeenCalledTimes(1);
  });
});
