import type { Logger } from '../logging/logger.ts';
import { childJobId, currentJobId, type TaskQueue } from '../tasks/task-queue.ts';
import { isParked, roundOf } from '../tasks/task-record.ts';
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
    const recent = await store.listRecent(this.options.window ?? 2000);
    const queued = recent.filter(
      (record) => record.status === 'queued' && now - record.createdAt >= minimumAgeMs,
    );
    // A task back from a wait runs on the resume job of its round, a reopened one on its follow-up round's job;
    // a parked one needs its resume job to exist (delayed until its prompt times out), or it would wait forever.
    const isFollowUpJob = (record: (typeof recent)[number]) =>
      currentJobId(record) === childJobId(record.id, roundOf(record)) && roundOf(record) > 1;
    const parked = recent.filter((record) => isParked(record.status) && record.prompt);
    const [queuedJobs, parkedJobs] = await Promise.all([
      Promise.all(queued.map((record) => queue.queue.getJob(currentJobId(record)))),
      Promise.all(parked.map((record) => queue.queue.getJob(currentJobId(record)))),
    ]);
    const orphans = queued.filter((_record, index) => !queuedJobs[index]);
    const followUps = orphans.filter(isFollowUpJob);
    const fresh = orphans
      .filter((record) => !record.prompt && !isFollowUpJob(record))
      .map((record) => record.id);
    if (fresh.length > 0) await queue.enqueue(fresh);
    if (followUps.length > 0) {
      await queue.enqueue(
        followUps.map((record) => ({
          taskId: record.id,
          followUpRound: roundOf(record),
          ...(record.prompt ? { promptRound: record.prompt.round } : {}),
        })),
      );
    }
    const resumes = [
      ...orphans
        .filter((record) => record.prompt && !isFollowUpJob(record))
        .map((record) => ({ record, delayMs: 0 })),
      ...parked
        .filter((_record, index) => !parkedJobs[index])
        .map((record) => ({ record, delayMs: record.prompt!.expiresAt - now })),
    ];
    await Promise.all(
      resumes.map(({ record, delayMs }) => queue.enqueueResume(record.id, record.prompt!.round, delayMs)),
    );
    const ids = [
      ...fresh,
      ...followUps.map((record) => record.id),
      ...resumes.map(({ record }) => record.id),
    ];
    if (ids.length > 0) logger.warn({ taskIds: ids }, 're-queued tasks whose job was never enqueued');
    return ids;
  }
}
