import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { roundOf, type TaskRecord } from './task-record.ts';

/** The BullMQ queue children run on (its keys sit under the configured prefix). */
export const childQueueName = 'baton-children';

export interface ChildJobData {
  taskId: string;
  /** The wait this job resumes the task from (a resume job); absent for the task's first job. */
  round?: number;
}

/**
 * The job that resumes a task parked on prompt `round`: enqueued delayed by the prompt's time-out when the
 * task parks, promoted at once when a person answers. One id per round, so no round is resumed twice.
 */
export function resumeJobId(taskId: string, round: number): string {
  return `${taskId}-r${round}`;
}

/**
 * The id of the job that runs (or ran) the task now: its first job, the resume job of its last wait, or the
 * job of its follow-up round when a steer reopened it after that wait.
 */
export function currentJobId(
  record: Pick<TaskRecord, 'id' | 'prompt' | 'followUpRound' | 'followUpPromptRound'>,
): string {
  const promptRound = record.prompt?.round;
  const followUpRound = roundOf(record);
  if (followUpRound > 1 && (promptRound ?? 0) <= (record.followUpPromptRound ?? 0)) {
    return childJobId(record.id, followUpRound);
  }
  return promptRound === undefined ? record.id : resumeJobId(record.id, promptRound);
}

/**
 * A child job's id: the task id, and for a round of a reopened task (2 and up) the round too, so each round
 * runs once however often it is enqueued, and a later round is not taken for the first one's finished job.
 */
export function childJobId(taskId: string, round = 1): string {
  return round > 1 ? `${taskId}-f${round}` : taskId;
}

/** Enqueues child jobs. The job id is the task id (see childJobId), so a task can never be queued twice. */
export class TaskQueue {
  readonly queue: Queue<ChildJobData>;

  constructor(connection: Redis, prefix: string) {
    this.queue = new Queue<ChildJobData>(childQueueName, {
      connection,
      prefix,
      // Baton reads no BullMQ events (tasks have their own event streams): a short history for tools that do.
      streams: { events: { maxLen: 1000 } },
      defaultJobOptions: {
        // Retries cover crashes of the processor itself (a lost Redis connection, a bug); a child's own
        // failures end the task and the job completes. Each retry resumes from the checkpoint.
        attempts: 3,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 5000 },
      },
    });
    // Without a listener BullMQ prints every reconnect failure. A lost Redis is reported once by
    // RedisAvailability; any other failure of a queue call rejects that call, where it is handled.
    this.queue.on('error', () => undefined);
  }

  /**
   * Queues tasks' jobs: task ids (a first round), or a task reopened for a follow-up round, with the wait
   * round it last parked on (the claim checks it, see claim-tasks.lua).
   */
  async enqueue(
    tasks: Array<string | { taskId: string; followUpRound: number; promptRound?: number }>,
  ): Promise<void> {
    await this.queue.addBulk(
      tasks.map((task) => {
        if (typeof task === 'string') return { name: 'child', data: { taskId: task }, opts: { jobId: task } };
        const { taskId, followUpRound, promptRound } = task;
        return {
          name: 'child',
          data: promptRound === undefined ? { taskId } : { taskId, round: promptRound },
          opts: { jobId: childJobId(taskId, followUpRound) },
        };
      }),
    );
  }

  /** Removes a job that has not started yet (a task cancelled while queued); a no-op otherwise. */
  async removeWaiting(record: Parameters<typeof currentJobId>[0]): Promise<void> {
    await this.queue.remove(currentJobId(record)).catch(() => 0);
  }

  /**
   * Adds the job that resumes a task parked on `round`, due after `delayMs` (the prompt's time-out): it
   * costs nothing meanwhile, and with no timer outside Redis the wait survives every restart.
   */
  async enqueueResume(taskId: string, round: number, delayMs: number): Promise<void> {
    await this.queue.add(
      'child',
      { taskId, round },
      { jobId: resumeJobId(taskId, round), delay: Math.max(0, Math.round(delayMs)) },
    );
  }

  /**
   * Makes the resume job of `round` due now (the prompt was answered). A job already due or running is
   * left as it is; a missing one (lost, or never added) is added.
   */
  async resumeNow(taskId: string, round: number): Promise<void> {
    const job = await this.queue.getJob(resumeJobId(taskId, round));
    if (!job) {
      await this.enqueueResume(taskId, round, 0);
      return;
    }
    // Between the read and the promote it may have become due by itself: not an error.
    await job.promote().catch(async (error: unknown) => {
      if ((await job.isDelayed().catch(() => false)) === true) throw error;
    });
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
