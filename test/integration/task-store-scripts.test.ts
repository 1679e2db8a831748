import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { RedisScriptRunner } from '../../src/redis/redis-script-runner.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import { admitTasksScript } from '../../src/tasks/task-scripts.ts';
import { type TaskSignal, TaskSignals } from '../../src/tasks/task-signals.ts';
import { TaskStore } from '../../src/tasks/task-store.ts';
import { UsageLedger } from '../../src/usage/usage-ledger.ts';
import { testOrigin } from '../support/baton-harness.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const redis = useTestRedis();
let subscriber: Redis;
let keys: RedisKeys;
let store: TaskStore;
let signals: TaskSignals;
/** Every signal published under this test's prefix, in order. */
let received: TaskSignal[];

beforeEach(async () => {
  keys = new RedisKeys(uniquePrefix('scripts'));
  store = new TaskStore({ redis: redis.client, keys, maxEventsPerTask: 100 });
  subscriber = createRedisConnection(redis.url);
  signals = new TaskSignals(redis.client, subscriber, keys);
  await signals.start();
  received = [];
  signals.onAny((signal) => received.push(signal));
});
afterEach(async () => {
  await signals.stop();
  subscriber.disconnect();
});

const sessionKey = 'test:c1:th1';

async function admitOne(): Promise<TaskRecord> {
  const { records } = await store.admit({
    sessionKey,
    origin: testOrigin,
    parent: null,
    tasks: [{ goal: 'look it up', context: 'some context', toolsets: [], route: 'default', role: 'leaf' }],
    maxActiveTasksPerConversation: 10,
  });
  return records[0]!;
}

/**
 * What `write` ran, seen through MONITOR: every script the client called (EVALSHA's arguments: the SHA, the key
 * count, the keys…), and the commands run inside those scripts.
 */
async function scriptRuns(
  write: () => Promise<unknown>,
): Promise<{ scripts: string[][]; inner: string[][] }> {
  const monitor = await redis.client.duplicate().monitor();
  const scripts: string[][] = [];
  const inner: string[][] = [];
  const marker = `scripts-seen-${Math.random()}`;
  let markerSeen: () => void = () => undefined;
  const seen = new Promise<void>((resolve) => {
    markerSeen = resolve;
  });
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') inner.push(args);
    else if (args[0]?.toLowerCase() === 'evalsha') scripts.push(args.slice(1));
    else if (args[1] === marker) markerSeen();
  });
  try {
    await write();
    // MONITOR's feed is a connection of its own: wait until it has shown a command sent after the write.
    await redis.client.echo(marker);
    await seen;
  } finally {
    monitor.disconnect();
  }
  return { scripts, inner };
}

/**
 * Runs `write` (one script call) under MONITOR and returns the keys the script's commands touched; throws
 * when one of them is not among the keys the script was given.
 */
async function keysTouchedByScript(write: () => Promise<void>): Promise<string[]> {
  const { scripts, inner } = await scriptRuns(write);
  expect(scripts).toHaveLength(1);
  const [, keyCount, ...rest] = scripts[0]!;
  const declared = new Set(rest.slice(0, Number(keyCount)));
  const touched = inner.filter(([command]) => command !== 'PUBLISH').map(([, key]) => key!);
  expect(inner.length).toBeGreaterThan(5);
  expect(touched.filter((key) => !declared.has(key))).toEqual([]);
  return touched;
}

const eventsOf = async (taskId: string) =>
  (await store.recentEvents(taskId, 20)).map((event) => `${event.type}: ${event.text}`);

/** Resolves once a signal of `kind` for `taskId` has been received (pub/sub is asynchronous). */
function nextSignal(taskId: string, kind: TaskSignal['kind']): Promise<TaskSignal> {
  return new Promise((resolve) => {
    const stop = signals.onTask(taskId, (signal) => {
      if (signal.kind !== kind) return;
      stop();
      resolve(signal);
    });
  });
}

describe('admit', () => {
  it('refuses a batch whose drawn id is already a task (listed in the global index), writing nothing', async () => {
    const existing = await admitOne();
    const runner = new RedisScriptRunner(redis.client);
    const fresh = 't_fresh1';
    const request = {
      maxActive: 10,
      now: String(Date.now()),
      idempotencySeconds: 60,
      maxEvents: 100,
      channel: keys.signalChannel(),
      sessionKey,
      quotas: { user: 0, channel: 0, total: 0, queued: 0 },
      records: [
        ['id', fresh, 'status', 'queued'],
        ['id', existing.id, 'status', 'queued'],
      ],
      ids: [fresh, existing.id],
    };
    const reply = await runner.run<string[]>(
      admitTasksScript,
      [
        keys.sessionActive(sessionKey),
        keys.sessionTasks(sessionKey),
        '',
        '',
        '',
        keys.channelTasks('test', 'c1'),
        keys.allTasks(),
        keys.quotaUserActive('test', 'u1'),
        keys.quotaChannelActive('test', 'c1'),
        keys.quotaActive(),
        keys.quotaQueued(),
        keys.task(fresh),
        keys.task(existing.id),
        keys.taskEvents(fresh),
        keys.taskEvents(existing.id),
      ],
      [JSON.stringify(request)],
    );
    expect(reply).toEqual(['id_taken', '2']);
    expect(await redis.client.exists(keys.task(fresh))).toBe(0);
    expect((await store.get(existing.id))?.goal).toBe('look it up');
  });
});

describe('claim', () => {
  it('returns the record after the claim, the previous status and the inbox length, and records step 1', async () => {
    const admitted = await admitOne();
    const before = Date.now();
    const claim = await store.claim(admitted.id, 'runner-1', { firstStepEvent: 'step 1' });

    expect(claim.outcome).toBe('ok');
    if (claim.outcome !== 'ok') return;
    expect(claim.previous).toBe('queued');
    expect(claim.resumed).toBe(false);
    expect(claim.inboxLength).toBe(0);
    expect(claim.firstStepRecorded).toBe(true);
    // The very record a read would give, so the runner need not read it.
    expect(claim.record).toEqual(await store.get(admitted.id));
    expect(claim.record).toMatchObject({
      id: admitted.id,
      goal: 'look it up',
      context: 'some context',
      origin: testOrigin,
      status: 'running',
      attempts: 1,
    });
    expect(claim.record.startedAt).toBeGreaterThanOrEqual(before);
    expect(await eventsOf(admitted.id)).toEqual([
      'status-change: queued',
      'status-change: queued -> running',
      'step-start: step 1',
    ]);
  });

  it('hands back any text of the task unchanged (the hash travels as JSON built in Lua)', async () => {
    const goal = 'Résumé «quotes» "double" \\ back/slash 😀 \u0001 tab\there\nnew line';
    const { records } = await store.admit({
      sessionKey,
      origin: { ...testOrigin, userName: 'Zoë 👩‍💻' },
      parent: null,
      tasks: [{ goal, context: '{"json": [1, 2]}', toolsets: ['web'], route: 'default', role: 'leaf' }],
      maxActiveTasksPerConversation: 10,
    });
    const claim = await store.claim(records[0]!.id, 'runner-1');
    expect(claim.record).toEqual(await store.get(records[0]!.id));
    expect(claim.record).toMatchObject({ goal, context: '{"json": [1, 2]}', toolsets: ['web'] });
    expect(claim.record?.origin.userName).toBe('Zoë 👩‍💻');
  });

  it('counts a steer sent while queued and leaves step 1 to the runner, which reads the inbox first', async () => {
    const admitted = await admitOne();
    await store.steer(admitted.id, 'Ada', 'focus on prices');
    const claim = await store.claim(admitted.id, 'runner-1', { firstStepEvent: 'step 1' });

    expect(claim).toMatchObject({ outcome: 'ok', inboxLength: 1, firstStepRecorded: false });
    expect(await eventsOf(admitted.id)).not.toContain('step-start: step 1');
  });

  it('takes over a running task as resumed, without recording a step', async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1', { firstStepEvent: 'step 1' });
    const claim = await store.claim(admitted.id, 'runner-2', { firstStepEvent: 'step 1' });

    expect(claim).toMatchObject({
      outcome: 'ok',
      previous: 'running',
      resumed: true,
      firstStepRecorded: false,
    });
    expect(claim.record?.attempts).toBe(2);
    expect((await eventsOf(admitted.id)).at(-1)).toBe(
      'note: resumed on another worker from the last checkpoint',
    );
  });

  it('refuses a finished task and a missing one', async () => {
    const admitted = await admitOne();
    await store.transition(admitted, 'cancelled', { note: 'test' });

    expect(await store.claim(admitted.id, 'runner-1')).toMatchObject({
      outcome: 'finished',
      previous: 'cancelled',
      record: null,
    });
    expect(await store.claim('t_missing', 'runner-1')).toMatchObject({ outcome: 'missing', record: null });
  });
});

/** A one-step child's answer, as its runner completes the task with it. */
const childResult = {
  inboxCursor: '0-0',
  summary: 'Found it.',
  fullText: 'Found it, in full.',
  steps: 1,
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
};

describe('terminal writes of the runner', () => {
  const result = childResult;

  it("declares every key the completion touches in KEYS, its model call's usage included (Redis Cluster needs it)", async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1');
    const ledger = new UsageLedger(redis.client, keys);
    const modelCall = ledger.write(
      { platform: 'test', channel: 'c1', user: 'u1', taskId: admitted.id },
      'default',
      { input: 3, cached: 0, output: 2, cost: 0.5, calls: 1 },
    );
    const touched = await keysTouchedByScript(async () => {
      expect(await store.complete(admitted, 'runner-1', result, modelCall)).toBe('ok');
    });
    expect(touched).toContain(keys.quotaUserActive('test', 'u1'));
    expect(touched).toContain(keys.sessionActive(sessionKey));
  });

  it("keeps nothing of a task longer than its record: its usage, the day's task index, its steer records", async () => {
    const retentionSeconds = 600;
    const shortStore = new TaskStore({ redis: redis.client, keys, maxEventsPerTask: 100, retentionSeconds });
    const admitted = await admitOne();
    await shortStore.claim(admitted.id, 'runner-1');
    const steered = await shortStore.steer(admitted.id, 'Ann', 'also check the logs', 'steer-once');
    const ledger = new UsageLedger(redis.client, keys, retentionSeconds);
    const call = { platform: 'test', channel: 'c1', user: 'u1', taskId: admitted.id };
    const modelCall = ledger.write(call, 'default', { input: 3, cached: 0, output: 2, cost: 0.5, calls: 1 });
    const applied = { ...result, inboxCursor: steered.messageId! };
    expect(await shortStore.complete(admitted, 'runner-1', applied, modelCall)).toBe('ok');

    const ttl = (key: string) => redis.client.ttl(key);
    const [dayIndex, taskIndex, allHash, , , , taskHash] = modelCall.keys;
    expect(await ttl(keys.task(admitted.id))).toBeLessThanOrEqual(retentionSeconds);
    expect(await ttl(taskHash!)).toBeGreaterThan(0);
    expect(await ttl(taskHash!)).toBeLessThanOrEqual(retentionSeconds);
    expect(await ttl(taskIndex!)).toBeLessThanOrEqual(retentionSeconds);
    expect(await ttl(keys.steerRecord('steer-once'))).toBeLessThanOrEqual(retentionSeconds);
    // People, channels and routes keep their month of reports; the day's index lists only them.
    expect(await ttl(allHash!)).toBeGreaterThan(30 * 24 * 3600);
    expect(await redis.client.smembers(dayIndex!)).not.toContain(`task:${admitted.id}`);
    expect(await redis.client.smembers(taskIndex!)).toEqual([`task:${admitted.id}`]);
    expect((await ledger.allScopes(1)).get(`task:${admitted.id}`)).toMatchObject({ input: 3, calls: 1 });
  });

  it('declares every key a cancel touches in KEYS (Redis Cluster needs it)', async () => {
    const admitted = await admitOne();
    const touched = await keysTouchedByScript(async () => {
      expect((await store.transition(admitted, 'cancelled', { note: 'test' })).outcome).toBe('ok');
    });
    expect(touched).toContain(keys.quotaChannelActive('test', 'c1'));
    expect(touched).toContain(keys.quotaQueued());
    expect(touched).toContain(keys.sessionActive(sessionKey));
    expect(await store.activeCount(sessionKey)).toBe(0);
  });

  it('complete also lets go of the task: no runner token, out of the active set, one ended signal', async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1');
    expect(await store.isHeldByRunner(admitted.id)).toBe(true);
    expect(await store.activeCount(sessionKey)).toBe(1);
    const ended = nextSignal(admitted.id, 'ended');

    expect(await store.complete(admitted, 'runner-1', result)).toBe('ok');
    expect(await ended).toEqual({ kind: 'ended', taskId: admitted.id, status: 'completed' });
    expect(await store.isHeldByRunner(admitted.id)).toBe(false);
    expect(await redis.client.hget(keys.task(admitted.id), 'stoppedAt')).toMatch(/^\d+$/);
    expect(await store.activeCount(sessionKey)).toBe(0);
    expect(await store.get(admitted.id)).toMatchObject({
      status: 'completed',
      summary: 'Found it.',
      steps: 1,
    });
    expect(await store.fullSummary(admitted.id)).toBe('Found it, in full.');
    // Its delivery record, written by the same script.
    const endings = await redis.client.xrange(keys.taskEndings(), '-', '+');
    expect(endings.map(([, fields]) => fields)).toEqual([['taskId', admitted.id, 'status', 'completed']]);
    // `ended` stands for `stopped` (the waiter of cancel_task wakes on both). A marker published after it on
    // the same connection arrives after anything the script published.
    const marker = nextSignal('t_marker', 'stopped');
    await signals.publish({ kind: 'stopped', taskId: 't_marker' });
    await marker;
    expect(received.filter((signal) => signal.taskId === admitted.id).map((signal) => signal.kind)).toEqual([
      'queued',
      'ended',
    ]);
  });

  it('keeps the full text apart only when the summary had to be cut', async () => {
    const admitted = await admitOne();
    expect(await store.fullSummary(admitted.id)).toBeNull();
    await store.claim(admitted.id, 'runner-1');
    expect(await store.fullSummary(admitted.id)).toBeNull();
    const short = { ...result, summary: 'All of it.', fullText: 'All of it.' };

    expect(await store.complete(admitted, 'runner-1', short)).toBe('ok');
    expect(await redis.client.exists(keys.taskSummary(admitted.id))).toBe(0);
    expect(await store.fullSummary(admitted.id)).toBe('All of it.');
  });

  it('complete refuses while a steer is unread, and keeps the task held', async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1');
    await store.steer(admitted.id, 'Ada', 'one more thing');

    expect(await store.complete(admitted, 'runner-1', result)).toBe('pending_steer');
    expect(await store.isHeldByRunner(admitted.id)).toBe(true);
    expect((await store.get(admitted.id))?.status).toBe('running');
  });

  it('complete gives every key the task has an expiry, its checkpoint too (a follow-up may reopen it), whichever it has', async () => {
    const [parent, plain] = await Promise.all([admitOne(), admitOne()]);
    await store.claim(parent.id, 'runner-1');
    await store.claim(plain.id, 'runner-2');
    // The parent was steered, started a child and saved a checkpoint; `plain` did none of these.
    const steered = await store.steer(parent.id, 'Ada', 'one more thing');
    await store.admit({
      sessionKey,
      origin: testOrigin,
      parent: { taskId: parent.id, depth: parent.depth },
      tasks: [{ goal: 'sub', context: '', toolsets: [], route: 'default', role: 'leaf' }],
      maxActiveTasksPerConversation: 10,
    });
    const usage = result.usage;
    await store.saveCheckpoint(parent.id, 'runner-1', { messages: [], steps: 1, usage, inboxCursor: '0-0' });
    const cursor = steered.messageId!;

    expect(await store.complete(parent, 'runner-1', { ...result, inboxCursor: cursor })).toBe('ok');
    expect(await store.complete(plain, 'runner-2', result)).toBe('ok');
    for (const key of [
      keys.task(parent.id),
      keys.taskEvents(parent.id),
      keys.taskInbox(parent.id),
      keys.taskChildren(parent.id),
      keys.taskSummary(parent.id),
      keys.taskCheckpoint(parent.id),
      keys.task(plain.id),
      keys.taskEvents(plain.id),
    ]) {
      expect([key, await redis.client.ttl(key)]).toEqual([key, expect.toSatisfy((ttl: number) => ttl > 0)]);
    }
    expect(await redis.client.exists(keys.taskInbox(plain.id), keys.taskChildren(plain.id))).toBe(0);
  });

  it('complete still sees an unread steer, and expires the inbox and children, of a record from before lastSteerId', async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1');
    // As an earlier version left it: no lastSteerId / hasChildren fields, a steer and a child set anyway.
    await redis.client.hdel(keys.task(admitted.id), 'lastSteerId');
    const steerId = await redis.client.xadd(
      keys.taskInbox(admitted.id),
      '*',
      'from',
      'Ada',
      'text',
      'more',
      'at',
      '1',
    );
    await redis.client.sadd(keys.taskChildren(admitted.id), 't_child');

    expect(await store.complete(admitted, 'runner-1', result)).toBe('pending_steer');
    expect(await store.complete(admitted, 'runner-1', { ...result, inboxCursor: steerId! })).toBe('ok');
    expect(await redis.client.ttl(keys.taskInbox(admitted.id))).toBeGreaterThan(0);
    expect(await redis.client.ttl(keys.taskChildren(admitted.id))).toBeGreaterThan(0);
  });

  it('claim counts the inbox of a record from before lastSteerId', async () => {
    const admitted = await admitOne();
    await redis.client.hdel(keys.task(admitted.id), 'lastSteerId');
    await redis.client.xadd(keys.taskInbox(admitted.id), '*', 'from', 'Ada', 'text', 'more', 'at', '1');
    const claim = await store.claim(admitted.id, 'runner-1', { firstStepEvent: 'step 1' });
    expect(claim).toMatchObject({ outcome: 'ok', inboxLength: 1, firstStepRecorded: false });
  });

  it('a refused transition with release still lets go (a cancel got there first) and says stopped', async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1');
    const cancel = await store.transition(admitted, 'cancelled', { note: 'by Ada' });
    expect(cancel).toEqual({ outcome: 'ok', previous: 'running', released: false });
    expect(await store.activeCount(sessionKey)).toBe(0);
    expect(await store.isHeldByRunner(admitted.id)).toBe(true);
    const stopped = nextSignal(admitted.id, 'stopped');

    const written = await store.transition(admitted, 'cancelled', {
      runnerToken: 'runner-1',
      note: 'stopped',
      release: true,
    });
    expect(written).toEqual({ outcome: 'refused', previous: 'cancelled', released: true });
    expect(await stopped).toEqual({ kind: 'stopped', taskId: admitted.id });
    expect(await store.isHeldByRunner(admitted.id)).toBe(false);
  });

  it('a transition with release ends the task and lets go in one script; another runner cannot', async () => {
    const admitted = await admitOne();
    await store.claim(admitted.id, 'runner-1');

    expect(
      await store.transition(admitted, 'failed', { runnerToken: 'runner-2', error: 'x', release: true }),
    ).toEqual({ outcome: 'lost', previous: 'running', released: false });
    expect(await store.isHeldByRunner(admitted.id)).toBe(true);

    const written = await store.transition(admitted, 'failed', {
      runnerToken: 'runner-1',
      error: 'the model refused',
      release: true,
    });
    expect(written).toEqual({ outcome: 'ok', previous: 'running', released: true });
    expect(await store.get(admitted.id)).toMatchObject({ status: 'failed', error: 'the model refused' });
    expect(await store.isHeldByRunner(admitted.id)).toBe(false);
    expect(await store.activeCount(sessionKey)).toBe(0);
  });
});

describe('claims and completions asked for in one turn of the event loop', () => {
  const result = { ...childResult, fullText: 'Found it.' };

  async function admitMany(count: number): Promise<TaskRecord[]> {
    const { records } = await store.admit({
      sessionKey,
      origin: testOrigin,
      parent: null,
      tasks: Array.from({ length: count }, (_, index) => ({
        goal: `task ${index}`,
        context: '',
        toolsets: [],
        route: 'default',
        role: 'leaf' as const,
      })),
      maxActiveTasksPerConversation: 100,
    });
    return records;
  }

  it('run as one claim script and one completion script, each task on its own terms', async () => {
    // What the channel carries, message by message (TaskSignals hands out a list's signals one by one).
    const raw = createRedisConnection(redis.url);
    const messages: string[] = [];
    raw.on('message', (_channel: string, payload: string) => messages.push(payload));
    await raw.subscribe(keys.signalChannel());
    const tasks = await admitMany(8);
    const [finished, ...rest] = tasks;
    await store.claim(finished!.id, 'runner-early');
    expect(await store.complete(finished!, 'runner-early', result)).toBe('ok');

    let claims: Awaited<ReturnType<TaskStore['claim']>>[] = [];
    const { scripts: claimScripts } = await scriptRuns(async () => {
      claims = await Promise.all([
        ...tasks.map((task, index) => store.claim(task.id, `runner-${index}`, { firstStepEvent: 'step 1' })),
        store.claim('t_missing', 'runner-x'),
      ]);
    });
    expect(claimScripts).toHaveLength(1);
    expect(claims.map((claim) => claim.outcome)).toEqual(['finished', ...rest.map(() => 'ok'), 'missing']);
    expect(claims[1]).toMatchObject({ previous: 'queued', resumed: false, firstStepRecorded: true });
    expect(claims[1]!.record).toMatchObject({ id: rest[0]!.id, status: 'running', attempts: 1 });
    expect(await redis.client.smembers(keys.quotaQueued())).toEqual([]);

    // A steer the runner has not read, a runner that lost its task, and a model call's usage per task.
    const steered = rest[1]!;
    await store.steer(steered.id, 'Ann', 'also check the logs', 'steer-batch');
    const ledger = new UsageLedger(redis.client, keys);
    const callOf = (task: TaskRecord) =>
      ledger.write({ platform: 'test', channel: 'c1', user: 'u1', taskId: task.id }, 'default', {
        input: 10,
        cached: 1,
        output: 2,
        cost: 0.25,
        calls: 1,
      });
    let outcomes: string[] = [];
    const completion = await scriptRuns(async () => {
      outcomes = await Promise.all([
        ...rest.map((task, index) =>
          store.complete(task, index === 2 ? 'runner-stolen' : `runner-${index + 1}`, result, callOf(task)),
        ),
        store.complete(finished!, 'runner-early', result, callOf(finished!)),
      ]);
    });
    expect(completion.scripts).toHaveLength(1);
    // The scope hashes the eight calls share are each read and written once for the batch (and, new, given
    // their expiry once).
    const allHash = callOf(finished!).keys[2]!;
    const onAllHash = completion.inner.filter(([, key]) => key === allHash).map(([command]) => command);
    expect(onAllHash).toEqual(['HMGET', 'HSET', 'EXPIRE']);
    expect(outcomes).toEqual(['ok', 'pending_steer', 'lost', 'ok', 'ok', 'ok', 'ok', 'refused']);
    const completed = rest.filter((_, index) => index !== 1 && index !== 2);
    const statuses = await store.getMany(rest.map((task) => task.id));
    expect(statuses.map((record) => record?.status)).toEqual(
      rest.map((_, index) => (index === 1 || index === 2 ? 'running' : 'completed')),
    );
    // Only the ended tasks left the active sets; the two still running stay counted.
    expect((await redis.client.smembers(keys.sessionActive(sessionKey))).sort()).toEqual(
      [rest[1]!.id, rest[2]!.id].sort(),
    );
    expect((await redis.client.smembers(keys.quotaActive())).sort()).toEqual(
      [rest[1]!.id, rest[2]!.id].sort(),
    );
    const endings = await redis.client.xrange(keys.taskEndings(), '-', '+');
    expect(endings.map(([, fields]) => fields[1])).toEqual([
      finished!.id,
      ...completed.map((task) => task.id),
    ]);
    // Every call is counted whatever its task's outcome: the 8 calls, summed once into the shared scopes.
    const scopes = await ledger.allScopes(1);
    expect(scopes.get('all')).toEqual({ input: 80, cached: 8, output: 16, cost: 2, calls: 8 });
    expect(scopes.get('route:default')).toMatchObject({ calls: 8 });
    for (const task of tasks) expect(scopes.get(`task:${task.id}`)).toMatchObject({ input: 10, calls: 1 });
    expect(await redis.client.scard(callOf(finished!).keys[1]!)).toBe(8);
    // Each batch's signals came as one message, handed to listeners one signal at a time.
    const marker = nextSignal('t_marker', 'stopped');
    await signals.publish({ kind: 'stopped', taskId: 't_marker' });
    await marker;
    const kindsOf = (kind: TaskSignal['kind']) =>
      received.filter((signal) => signal.kind === kind).map((signal) => signal.taskId);
    expect(kindsOf('queued')).toEqual(tasks.map((task) => task.id));
    expect(kindsOf('ended')).toEqual([finished!.id, ...completed.map((task) => task.id)]);
    // One message per batch: the admitted eight, the early completion, the batch's five ended tasks.
    const lists = messages.filter((payload) => payload.startsWith('['));
    expect(lists.map((payload) => (JSON.parse(payload) as unknown[]).length)).toEqual([8, 1, 5]);
    raw.disconnect();
  });
});

describe('countRecentByStatus', () => {
  it('counts the newest tasks by status from their status field alone, skipping expired ones', async () => {
    const [first, second, third] = [await admitOne(), await admitOne(), await admitOne()];
    await store.transition(first!, 'cancelled');
    await store.transition(second!, 'failed', { error: 'boom' });
    expect(await store.countRecentByStatus(10)).toEqual({ cancelled: 1, failed: 1, queued: 1 });
    // Only the newest `limit` tasks are read.
    const two = await store.countRecentByStatus(2);
    expect(Object.values(two).reduce((sum, count) => sum + (count ?? 0), 0)).toBe(2);
    await redis.client.del(keys.task(third!.id));
    expect(await store.countRecentByStatus(10)).toEqual({ cancelled: 1, failed: 1 });
  });
});
