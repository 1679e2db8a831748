import type { TaskRecord } from './task-record.ts';
import { isTerminal } from './task-record.ts';
import type { TaskSignals } from './task-signals.ts';
import type { TaskStore } from './task-store.ts';

// Pub/sub can drop a message across a reconnect; a slow poll makes waiting correct regardless.
const fallbackPollMs = 2000;
const stopPollMs = 250;

/**
 * A wake-up that is never lost: a `notify` that comes while the waiter is still reading Redis (before it
 * waits) makes the next `wait` return at once. Clear it before each read.
 */
class Wakeup {
  private notified = false;
  private resolveWait: (() => void) | null = null;

  notify(): void {
    this.notified = true;
    this.resolveWait?.();
  }

  clear(): void {
    this.notified = false;
  }

  /** Resolves on `notify` (or one that came since `clear`), after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.notified || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.resolveWait = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      signal?.addEventListener('abort', finish, { once: true });
      this.resolveWait = finish;
    });
  }
}

/**
 * Waits until every task has ended (or the deadline passes, or `signal` aborts) without holding a
 * Redis connection per waiter. Returns the latest records; unfinished ones are returned as they are.
 */
export async function waitForTasksToEnd(
  store: TaskStore,
  signals: TaskSignals,
  taskIds: string[],
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<{ records: TaskRecord[]; timedOut: boolean }> {
  await signals.start();
  // Tasks not yet seen ended, by signal or by a read; the records are read again once none is left.
  const pending = new Set(taskIds);
  const wakeup = new Wakeup();
  const unsubscribes = taskIds.map((taskId) =>
    signals.onTask(taskId, (taskSignal) => {
      if (taskSignal.kind !== 'ended') return;
      pending.delete(taskId);
      if (pending.size === 0) wakeup.notify();
    }),
  );
  const deadline = Date.now() + options.timeoutMs;
  try {
    while (true) {
      wakeup.clear();
      // Read after subscribing: an ending between the two is seen either way.
      const records = (await store.getMany(taskIds)).filter(
        (record): record is TaskRecord => record !== null,
      );
      const ended = new Set(records.filter((record) => isTerminal(record.status)).map((record) => record.id));
      for (const taskId of ended) pending.delete(taskId);
      const unfinished = taskIds.some((taskId) => !ended.has(taskId));
      const remaining = deadline - Date.now();
      if (!unfinished || remaining <= 0 || options.signal?.aborted) {
        return { records, timedOut: unfinished };
      }
      await wakeup.wait(Math.min(remaining, fallbackPollMs), options.signal);
    }
  } finally {
    for (const unsubscribe of unsubscribes) unsubscribe();
  }
}

/** Waits until no worker holds any of the tasks (their processors have returned), up to a deadline. */
export async function waitForTasksToStop(
  store: TaskStore,
  signals: TaskSignals,
  taskIds: string[],
  timeoutMs: number,
): Promise<boolean> {
  await signals.start();
  const deadline = Date.now() + timeoutMs;
  const wakeup = new Wakeup();
  const unsubscribes = taskIds.map((taskId) =>
    signals.onTask(taskId, (taskSignal) => {
      // A runner that ends its task lets go of it in the same script and publishes only `ended`.
      // So does one that parks its task (it lets go of it too).
      if (taskSignal.kind === 'stopped' || taskSignal.kind === 'ended' || taskSignal.kind === 'parked')
        wakeup.notify();
    }),
  );
  try {
    while (true) {
      // Cleared before the reads: a `stopped` that arrives while they are in flight is not missed.
      wakeup.clear();
      const held = await Promise.all(taskIds.map((taskId) => store.isHeldByRunner(taskId)));
      if (!held.includes(true)) return true;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      await wakeup.wait(Math.min(remaining, stopPollMs));
    }
  } finally {
    for (const unsubscribe of unsubscribes) unsubscribe();
  }
}
