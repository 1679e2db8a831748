import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The BullMQ queue children run on (its keys sit under the configured prefix). */
export const childQueueName = 'baton-children';

export interface ChildJobData {
  taskId: string;
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

  /** Queues tasks' jobs: task ids (a first round), or a task id with its round. */
  async enqueue(tasks: Array<string | { taskId: string; round: number }>): Promise<void> {
    await this.queue.addBulk(
      tasks.map((task) => {
        const { taskId, round } = typeof task === 'string' ? { taskId: task, round: 1 } : task;
        return { name: 'child', data: { taskId }, opts: { jobId: childJobId(taskId, round) } };
      }),
    );
  }

  /** Removes a job that has not started yet (a task cancelled while queued); a no-op otherwise. */
  async removeWaiting(taskId: string, round = 1): Promise<void> {
    await this.queue.remove(childJobId(taskId, round)).catch(() => 0);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
