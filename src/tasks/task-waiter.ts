import type { TaskRecord } from './task-record.ts';
import { isTerminal } from './task-record.ts';
import type { TaskSignals } from './task-signals.ts';
import type { TaskStore } from './task-store.ts';

// Pub/sub can drop a message across a reconnect; a slow poll makes waiting correct regardless.
const fallbackPollMs = 2000;

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
  const pending = new Set(taskIds);
  let wake: () => void = () => undefined;
  const unsubscribes = taskIds.map((taskId) =>
    signals.onTask(taskId, (taskSignal) => {
      if (taskSignal.kind === 'ended') {
        pending.delete(taskId);
        wake();
      }
    }),
  );
  const deadline = Date.now() + options.timeoutMs;
  try {
    while (true) {
      // Read after subscribing: an ending between the two is seen either way.
      const records = (await store.getMany(taskIds)).filter(
        (record): record is TaskRecord => record !== null,
      );
      for (const record of records) if (isTerminal(record.status)) pending.delete(record.id);
      const remaining = deadline - Date.now();
      if (pending.size === 0 || remaining <= 0 || options.signal?.aborted) {
        return { records, timedOut: pending.size > 0 };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, fallbackPollMs));
        const finish = () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', finish);
          resolve();
        };
        wake = () => {
          if (pending.size === 0) finish();
        };
        options.signal?.addEventListener('abort', finish, { once: true });
      });
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
  let wake: () => void = () => undefined;
  const unsubscribes = taskIds.map((taskId) =>
    signals.onTask(taskId, (taskSignal) => {
      if (taskSignal.kind === 'stopped') wake();
    }),
  );
  try {
    while (true) {
      const held = await Promise.all(taskIds.map((taskId) => store.isHeldByRunner(taskId)));
      if (!held.includes(true)) return true;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 250));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    for (const unsubscribe of unsubscribes) unsubscribe();
  }
}
