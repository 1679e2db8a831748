import { beforeEach, describe, expect, it } from 'vitest';
import { ConsoleStore } from '../../adapters/console/console-store.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { keyLifetimes } from '../../src/redis/key-lifetimes.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { RetentionSweeper } from '../../src/runtime/retention-sweeper.ts';
import { BoardStates } from '../../src/sessions/board-states.ts';
import { KnownThreads } from '../../src/sessions/known-threads.ts';
import { trimExpiredScript } from '../../src/tasks/retention-scripts.ts';
import type { TaskOrigin, TaskRecord } from '../../src/tasks/task-record.ts';
import { TaskStore } from '../../src/tasks/task-store.ts';
import { buildTestConfig, eventually, testConfigLayer, testEnv } from '../support/baton-harness.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment();
// The public setting is in days (redis.retention_days); the store and the sweeper take seconds, which lets
// these tests run a whole retention period in a second.
const retentionSeconds = 1;
let keys: RedisKeys;
let store: TaskStore;
let sweeper: RetentionSweeper;
let threads: KnownThreads;

beforeEach(() => {
  keys = new RedisKeys(uniquePrefix('bounded'));
  store = new TaskStore({ redis: redis.client, keys, maxEventsPerTask: 50, retentionSeconds });
  sweeper = new RetentionSweeper({
    redis: redis.client,
    keys,
    retentionSeconds,
    logger: createSilentLogger(),
  });
  threads = new KnownThreads(redis.client, keys);
});

const originIn = (channel: string, thread: string): TaskOrigin => ({
  platform: 'test',
  channel,
  thread,
  user: 'u1',
  userName: 'Tester',
});
const sessionOf = (origin: TaskOrigin) => `${origin.platform}:${origin.channel}:${origin.thread}`;

async function admit(
  origin: TaskOrigin,
  count: number,
  parent: TaskRecord | null = null,
): Promise<TaskRecord[]> {
  const { records } = await store.admit({
    sessionKey: sessionOf(origin),
    origin,
    parent: parent ? { taskId: parent.id, depth: parent.depth } : null,
    tasks: Array.from({ length: count }, (_unused, index) => ({
      goal: `goal ${index}`,
      context: '',
      toolsets: [],
      route: 'default',
      role: 'leaf' as const,
    })),
    maxActiveTasksPerConversation: 100,
  });
  return records;
}

/** Runs a task to completion as a worker would: claim, a checkpoint, complete. */
async function complete(task: TaskRecord): Promise<void> {
  const token = `runner-${task.id}`;
  expect((await store.claim(task.id, token)).outcome).toBe('ok');
  const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  await store.saveCheckpoint(task.id, token, { messages: [], steps: 1, usage, inboxCursor: '0-0' });
  const summary = 'done '.repeat(20);
  const outcome = await store.complete(task, token, {
    inboxCursor: '0-0',
    summary,
    fullText: `${summary} and more`,
    steps: 1,
    usage,
  });
  expect(outcome).toBe('ok');
}

async function keyCount(): Promise<number> {
  let count = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.client.scan(cursor, 'MATCH', `${keys.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    count += found.length;
  } while (cursor !== '0');
  return count;
}

const pastRetention = () => new Promise((resolve) => setTimeout(resolve, retentionSeconds * 1000 + 300));

const origins = [originIn('c1', 'th1'), originIn('c1', 'th2'), originIn('c2', 'th3')];
const indexKeys = () => [
  keys.allTasks(),
  ...origins.map((origin) => keys.sessionTasks(sessionOf(origin))),
  keys.channelTasks('test', 'c1'),
  keys.channelTasks('test', 'c2'),
];

describe('bounded Redis: indexes shed tasks as their records expire', () => {
  it('leaves no dead id in any index or the threads index, and the key count at its baseline', async () => {
    await sweeper.sweepOnce();
    const baseline = await keyCount();

    const ended: TaskRecord[] = [];
    for (const origin of origins) {
      await threads.touch(sessionOf(origin));
      const [first, second, third, parent] = await admit(origin, 4);
      await complete(first!);
      await store.steer(second!.id, 'u1', 'change of plan');
      await store.transition(second!, 'cancelled');
      await store.transition(third!, 'running');
      await store.transition(third!, 'failed', { error: 'broke' });
      // A nested task: the parent's children set, the child in the same indexes.
      await store.transition(parent!, 'running');
      const [child] = await admit(origin, 1, parent!);
      await complete(child!);
      await store.transition(parent!, 'completed');
      ended.push(first!, second!, third!, parent!, child!);
    }
    // Listed far beyond what any reader asks for: the lazy shedding on read never sees these.
    expect(await redis.client.zcard(keys.allTasks())).toBe(ended.length);
    expect(await keyCount()).toBeGreaterThan(baseline + ended.length);

    await pastRetention();
    const report = await sweeper.sweepOnce();
    expect(report).toMatchObject({ tasksUnindexed: ended.length, threadsForgotten: origins.length });

    for (const indexKey of indexKeys()) expect(await redis.client.zrange(indexKey, '0', '-1')).toEqual([]);
    expect(await redis.client.exists(keys.knownThreads())).toBe(0);
    expect(await redis.client.exists(keys.taskEndings())).toBe(0);
    expect(await redis.client.exists(keys.taskExpirySchedule())).toBe(0);
    // Redis removes expired keys on access and in its background cycle; the count must come back.
    await eventually(async () => ((await keyCount()) === baseline ? true : undefined), 20_000, 'baseline');
  });

  it('never drops a task whose record still exists: active ones, and finished ones kept longer', async () => {
    const origin = origins[0]!;
    const [active, keptLonger, expiring] = await admit(origin, 3);
    await store.transition(active!, 'running');
    await complete(keptLonger!);
    await complete(expiring!);
    // Something kept this record longer than the retention period (as a reopened task would be).
    await redis.client.expire(keys.task(keptLonger!.id), 3600);

    await pastRetention();
    await sweeper.sweepOnce();
    const indexed = async (key: string) => (await redis.client.zrange(key, '0', '-1')).sort();
    const alive = [active!.id, keptLonger!.id].sort();
    expect(await indexed(keys.allTasks())).toEqual(alive);
    expect(await indexed(keys.sessionTasks(sessionOf(origin)))).toEqual(alive);
    expect(await indexed(keys.channelTasks('test', 'c1'))).toEqual(alive);
    expect((await store.listSession(sessionOf(origin))).map((record) => record.id).sort()).toEqual(alive);
    // The kept task waits on the schedule for its new expiry, not dropped from it.
    const [entry] = await redis.client.zrange(keys.taskExpirySchedule(), '0', '-1', 'WITHSCORES');
    expect(entry).toContain(keptLonger!.id);

    // The active task ends long after it was created: it still gets a whole retention period.
    await store.transition(active!, 'completed');
    await sweeper.sweepOnce();
    expect(await redis.client.zscore(keys.allTasks(), active!.id)).not.toBeNull();
    await pastRetention();
    await sweeper.sweepOnce();
    expect(await indexed(keys.allTasks())).toEqual([keptLonger!.id]);
  });

  it('clears indexes written before the expiry schedule existed, once', async () => {
    const origin = origins[2]!;
    const [finished, gone] = await admit(origin, 2);
    await complete(finished!);
    await complete(gone!);
    // As an older deployment left it: nothing on the schedule, and a task whose record already expired.
    await redis.client.del(keys.taskExpirySchedule(), keys.task(gone!.id));
    expect(await redis.client.zcard(keys.allTasks())).toBe(2);

    const report = await sweeper.sweepOnce();
    // The global, session and channel entries of the expired one.
    expect(report?.backfillDropped).toBe(3);
    for (const indexKey of [
      keys.allTasks(),
      keys.sessionTasks(sessionOf(origin)),
      keys.channelTasks('test', 'c2'),
    ]) {
      expect(await redis.client.zrange(indexKey, '0', '-1')).toEqual([finished!.id]);
    }
    await pastRetention();
    expect(await sweeper.sweepOnce()).toMatchObject({ tasksUnindexed: 1, backfillDropped: 0 });
    expect(await redis.client.exists(keys.allTasks())).toBe(0);
  });

  it('unindexes expired tasks with a script that declares every key it touches (Redis Cluster needs it)', async () => {
    await sweeper.sweepOnce();
    const [task] = await admit(origins[0]!, 1);
    await complete(task!);
    await pastRetention();
    const monitor = await redis.client.duplicate().monitor();
    const commands: { source: string; args: string[] }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => commands.push({ source, args }));
    try {
      expect(await sweeper.sweepOnce()).toMatchObject({ tasksUnindexed: 1 });
      await redis.client.ping();
    } finally {
      monitor.disconnect();
    }
    // The commands run inside trim-expired (those after its EVALSHA, up to the next command of a client).
    let declared: Set<string> | null = null;
    const touched: string[] = [];
    for (const { source, args } of commands) {
      if (source !== 'lua') {
        const isTrim = args[0]!.toLowerCase() === 'evalsha' && args[1] === trimExpiredScript.sha;
        declared = isTrim ? new Set(args.slice(3, 3 + Number(args[2]))) : null;
      } else if (declared) {
        touched.push(args[1]!);
        if (!declared.has(args[1]!))
          throw new Error(`trim-expired touched an undeclared key: ${args.join(' ')}`);
      }
    }
    expect(touched).toContain(keys.sessionTasks(sessionOf(origins[0]!)));
    for (const index of indexKeys()) expect(await redis.client.zscore(index, task!.id)).toBeNull();
  });

  it('trims only what is due, and only one process sweeps at a time', async () => {
    const other = new RetentionSweeper({
      redis: redis.client,
      keys,
      retentionSeconds,
      logger: createSilentLogger(),
    });
    const [task] = await admit(origins[0]!, 1);
    await complete(task!);
    const [first, second] = await Promise.all([sweeper.sweepOnce(), other.sweepOnce()]);
    expect([first, second].filter((report) => report === null)).toHaveLength(1);
    expect(await redis.client.zscore(keys.allTasks(), task!.id)).not.toBeNull();
  });
});

describe('bounded Redis: the threads index', () => {
  it('forgets threads idle for longer than the retention period and keeps active ones', async () => {
    const now = Date.now();
    await threads.touch('test:c1:idle', now - 2 * retentionSeconds * 1000);
    await threads.touch('test:c1:busy', now);
    await sweeper.sweepOnce(now);
    expect(await threads.has('test:c1:idle')).toBe(false);
    expect(await threads.has('test:c1:busy')).toBe(true);
  });

  it('migrates the plain set an older deployment left there, once, keeping every thread', async () => {
    await redis.client.sadd(keys.knownThreads(), 'test:c1:old-1', 'test:c1:old-2');
    expect(await threads.has('test:c1:old-1')).toBe(true);
    expect(await redis.client.type(keys.knownThreads())).toBe('zset');
    expect(await threads.has('test:c1:old-2')).toBe(true);

    await redis.client.del(keys.knownThreads());
    await redis.client.sadd(keys.knownThreads(), 'test:c1:old-3');
    await threads.touch('test:c1:new');
    expect((await redis.client.zrange(keys.knownThreads(), '0', '-1')).sort()).toEqual([
      'test:c1:new',
      'test:c1:old-3',
    ]);

    await redis.client.del(keys.knownThreads());
    await redis.client.sadd(keys.knownThreads(), 'test:c1:old-4');
    // A sweep right away keeps migrated threads: they count as active at the migration.
    expect(await sweeper.sweepOnce()).toMatchObject({ threadsForgotten: 0 });
    expect(await threads.has('test:c1:old-4')).toBe(true);
  });
});

describe('bounded Redis: the console transcripts', () => {
  it('lets a console thread idle for the retention period expire and leave the thread list', async () => {
    const consoleStore = new ConsoleStore({
      redis: redis.client,
      keyPrefix: keys.prefix,
      retentionSeconds,
      requestRecordSeconds: keyLifetimes.consoleRequestRecord,
    });
    const idle = await consoleStore.createThread('idle');
    await consoleStore.append(idle.id, { role: 'user', text: 'hello' });
    await consoleStore.append(idle.id, { role: 'bot', text: 'hi' });
    expect((await consoleStore.listThreads()).map((thread) => thread.id)).toEqual([idle.id]);

    await pastRetention();
    const busy = await consoleStore.createThread('busy');
    expect((await consoleStore.listThreads()).map((thread) => thread.id)).toEqual([busy.id]);
    expect(await consoleStore.getThread(idle.id)).toBeNull();
    expect(await consoleStore.entries(idle.id)).toEqual([]);
    const [, left] = await redis.client.scan('0', 'MATCH', `${keys.prefix}:console:*`, 'COUNT', 1000);
    expect(left.sort()).toEqual([
      `${keys.prefix}:console:thread:${busy.id}`,
      `${keys.prefix}:console:threads`,
    ]);
  });

  it('lets a board whose gateway died before settling it, or one rewritten by a late refresh, expire', async () => {
    const boards = new BoardStates(redis.client, keys, retentionSeconds);
    const sessionKey = 'test:c1:abandoned';
    await boards.open(sessionKey);
    await boards.recordShown(sessionKey, 'sig', Date.now(), 'm1');
    const raced = 'test:c1:raced';
    await boards.open(raced);
    await boards.close(raced);
    // A refresh that read the board before the close records what it showed after it.
    await boards.recordShown(raced, 'sig', Date.now(), 'm2');
    await boards.dropLive(sessionKey);

    await pastRetention();
    expect(await redis.client.exists(keys.sessionBoard(sessionKey), keys.sessionBoard(raced))).toBe(0);
  });
});

describe('bounded Redis: every process sweeps', () => {
  it('runs the retention sweeper of a started runtime on its own timer', async () => {
    const config = buildTestConfig(testConfigLayer(fake, { redis: { prefix: keys.prefix } }));
    const runtime = new BatonRuntime({
      config,
      redisUrl: redis.url,
      logger: createSilentLogger(),
      env: testEnv(),
      retentionSweepIntervalMs: 100,
    });
    await runtime.start();
    try {
      const retentionMs = config.redis.retention_days * 24 * 3600 * 1000;
      await threads.touch('test:c1:long-idle', Date.now() - retentionMs - 60_000);
      await threads.touch('test:c1:recent');
      await eventually(async () => ((await threads.has('test:c1:long-idle')) ? undefined : true), 15_000);
      expect(await threads.has('test:c1:recent')).toBe(true);
    } finally {
      await runtime.close(0);
    }
  });
});
