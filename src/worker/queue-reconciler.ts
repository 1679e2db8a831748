import type { Logger } from '../logging/logger.ts';
import { childJobId, type TaskQueue } from '../tasks/task-queue.ts';
import { roundOf } from '../tasks/task-record.ts';
import type { TaskStore } from '../tasks/task-store.ts';

export interface QueueReconcilerOptions {
  store: TaskStore;
  queue: TaskQueue;
  logger: Logger;
  /** How often to look, in ms (default 60 s). */
  intervalMs?: number;
  /** A queued task younger than this is left alone: its dispatcher may be enqueuing it right now. */
  minimumAgeMs?: number;
  /** How many of the most recent tasks are examined (default 2,000). */
  window?: number;
}

/**
 * Admitting a task and enqueuing its job are two steps; a dispatcher that dies between them leaves a task
 * that is queued with no job to run it. This puts such tasks back on the queue. Job ids are task ids, so
 * several workers doing it at once, or a job that appears meanwhile, never make a task run twice.
 */
export class QueueReconciler {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: QueueReconcilerOptions) {}

  start(): void {
    this.timer = setInterval(
      () => void this.reconcileOnce().catch(() => undefined),
      this.options.intervalMs ?? 60_000,
    );
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Re-queues the orphaned tasks found now; returns their ids. */
  async reconcileOnce(): Promise<string[]> {
    const { store, queue, logger } = this.options;
    const minimumAgeMs = this.options.minimumAgeMs ?? 30_000;
    const now = Date.now();
    const queued = (await store.listRecent(this.options.window ?? 2000)).filter(
      (record) => record.status === 'queued' && now - record.createdAt >= minimumAgeMs,
    );
    const jobs = await Promise.all(
      queued.map((record) => queue.queue.getJob(childJobId(record.id, roundOf(record)))),
    );
    const orphans = queued.filter((_record, index) => !jobs[index]);
    if (orphans.length > 0) {
      await queue.enqueue(orphans.map((record) => ({ taskId: record.id, round: roundOf(record) })));
      logger.warn(
        { taskIds: orphans.map((record) => record.id) },
        're-queued tasks whose job was never enqueued',
      );
    }
    return orphans.map((record) => record.id);
  }
}
