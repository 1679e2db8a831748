import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import { type TaskSignal, TaskSignals } from '../../src/tasks/task-signals.ts';
import { TaskStore } from '../../src/tasks/task-store.ts';
import { waitForTasksToEnd, waitForTasksToStop } from '../../src/tasks/task-waiter.ts';
import { testOrigin } from '../support/baton-harness.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const redis = useTestRedis();
let subscriber: Redis;
let keys: RedisKeys;
let signals: TaskSignals;

beforeEach(async () => {
  keys = new RedisKeys(uniquePrefix('waiter'));
  subscriber = createRedisConnection(redis.url);
  signals = new TaskSignals(redis.client, subscriber, keys);
  await signals.start();
});
afterEach(async () => {
  await signals.stop();
  subscriber.disconnect();
});

/**
 * A store whose first read is overtaken: while it is in flight, `overtake` changes the task and its signal
 * reaches every listener, and the read then answers what it saw before. The race a waiter must not lose.
 */
class OvertakenStore extends TaskStore {
  overtake: (() => Promise<void>) | null = null;
  reads = 0;

  override async isHeldByRunner(taskId: string): Promise<boolean> {
    this.reads += 1;
    const before = await super.isHeldByRunner(taskId);
    await this.runOvertake();
    return before;
  }

  override async getMany(taskIds: string[]): Promise<(TaskRecord | null)[]> {
    this.reads += 1;
    const before = await super.getMany(taskIds);
    await this.runOvertake();
    return before;
  }

  private async runOvertake(): Promise<void> {
    const overtake = this.overtake;
    this.overtake = null;
    await overtake?.();
  }
}

function newStore(): OvertakenStore {
  return new OvertakenStore({ redis: redis.client, keys, maxEventsPerTask: 100 });
}

async function runningTask(store: TaskStore, runnerToken: string): Promise<string> {
  const { records } = await store.admit({
    sessionKey: 'test:c1:th1',
    origin: testOrigin,
    parent: null,
    tasks: [{ goal: 'wait for me', context: '', toolsets: [], route: 'default', role: 'leaf' }],
    maxActiveTasksPerConversation: 10,
  });
  await store.claim(records[0]!.id, runnerToken);
  return records[0]!.id;
}

/** Resolves once `kind` for `taskId` has reached the listeners (the waiter's listener was added before). */
function signalDelivered(taskId: string, kind: TaskSignal['kind']): Promise<void> {
  return new Promise((resolve) => {
    const stop = signals.onTask(taskId, (signal) => {
      if (signal.kind !== kind) return;
      stop();
      resolve();
    });
  });
}

const completion = {
  inboxCursor: '0-0',
  summary: 'done',
  fullText: 'done',
  steps: 1,
  usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
};

describe('waitForTasksToStop', () => {
  it('does not miss a stopped signal that arrives while it is reading (no fallback poll)', async () => {
    const store = newStore();
    const taskId = await runningTask(store, 'runner-1');
    let overtakenAt = 0;
    store.overtake = async () => {
      const delivered = signalDelivered(taskId, 'stopped');
      await store.release(taskId, 'runner-1');
      await delivered;
      overtakenAt = performance.now();
    };

    expect(await waitForTasksToStop(store, signals, [taskId], 5000)).toBe(true);
    // A missed wake-up would sleep until the 250 ms poll before reading again.
    expect(performance.now() - overtakenAt).toBeLessThan(200);
    expect(store.reads).toBe(2);
  });

  it('wakes on the ended signal of a runner that completed (which publishes no stopped)', async () => {
    const store = newStore();
    const taskId = await runningTask(store, 'runner-1');
    const waiting = waitForTasksToStop(store, signals, [taskId], 5000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const completedAt = performance.now();
    expect(await store.complete((await store.get(taskId))!, 'runner-1', completion)).toBe('ok');

    expect(await waiting).toBe(true);
    expect(performance.now() - completedAt).toBeLessThan(200);
  });
});

describe('waitForTasksToEnd', () => {
  it('returns the ended record, not the one read just before the task ended', async () => {
    const store = newStore();
    const taskId = await runningTask(store, 'runner-1');
    let overtakenAt = 0;
    store.overtake = async () => {
      const delivered = signalDelivered(taskId, 'ended');
      expect(await store.complete((await store.get(taskId))!, 'runner-1', completion)).toBe('ok');
      await delivered;
      overtakenAt = performance.now();
    };

    const { records, timedOut } = await waitForTasksToEnd(store, signals, [taskId], { timeoutMs: 5000 });
    expect(timedOut).toBe(false);
    expect(records.map((record) => record.status)).toEqual(['completed']);
    // Read again at once, not after the 2 s fallback poll.
    expect(performance.now() - overtakenAt).toBeLessThan(1000);
  });

  it('times out with the unfinished records as they are', async () => {
    const store = newStore();
    const taskId = await runningTask(store, 'runner-1');
    const { records, timedOut } = await waitForTasksToEnd(store, signals, [taskId], { timeoutMs: 100 });
    expect(timedOut).toBe(true);
    expect(records.map((record) => record.status)).toEqual(['running']);
  });
});
