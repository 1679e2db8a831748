import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** The BullMQ queue children run on (its keys sit under the configured prefix). */
export const childQueueName = 'baton-children';

export interface ChildJobData {
  taskId: string;
}

/** Enqueues child jobs. The job id is the task id, so a task can never be queued twice. */
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

  async enqueue(taskIds: string[]): Promise<void> {
    await this.queue.addBulk(
      taskIds.map((taskId) => ({ name: 'child', data: { taskId }, opts: { jobId: taskId } })),
    );
  }

  /** Removes a job that has not started yet (a task cancelled while queued); a no-op otherwise. */
  async removeWaiting(taskId: string): Promise<void> {
    await this.queue.remove(taskId).catch(() => 0);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
