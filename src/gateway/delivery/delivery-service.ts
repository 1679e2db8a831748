import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { describeError } from '../../errors.ts';
import { isLapsedLockError, isRedisConnectionError } from '../../redis/redis-connection.ts';
import { PlatformSendError } from '../platform-send-error.ts';
import type { DeliveryDependencies } from './delivery-dependencies.ts';
import { deliverPrompt, deliverPromptOutcome, type SettlementJobData } from './prompt-delivery.ts';
import { deliverTaskResult } from './result-delivery.ts';

export const deliveryQueueName = 'baton-deliveries';

export interface DeliveryJobData {
  taskId: string;
  /** Which round's result (a task reopened by a follow-up has several); absent: the first. */
  followUpRound?: number;
  /** Set for a job posting a parked task's prompt (job name `prompt`), or editing it once settled: the wait round. */
  round?: number;
  /** Set for a job editing a settled prompt (job name `prompt-outcome`): how it was settled. */
  settlement?: SettlementJobData;
}

/** Delay before the next attempt: the platform's retry-after when it gave one, else exponential backoff. */
export function deliveryBackoffMs(attemptsMade: number, error: Error | undefined): number {
  // Duck-typed: a PlatformSendError carries it, and so may any error an adapter throws.
  const retryAfterMs = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  if (typeof retryAfterMs === 'number') return retryAfterMs;
  return Math.min(60_000, 500 * 2 ** Math.max(0, attemptsMade - 1));
}

/** The delivery queue and its worker, run by every gateway process. */
export class DeliveryService {
  readonly queue: Queue<DeliveryJobData>;
  private readonly worker: Worker<DeliveryJobData>;

  constructor(connection: Redis, dependencies: DeliveryDependencies) {
    const { config, logger } = dependencies;
    this.queue = new Queue<DeliveryJobData>(deliveryQueueName, {
      connection,
      prefix: config.redis.prefix,
      // No one reads BullMQ's events here: a short history for tools that do.
      streams: { events: { maxLen: 1000 } },
      defaultJobOptions: {
        attempts: config.gateway.delivery_max_attempts,
        backoff: { type: 'platform' },
        // A finished delivery's job is history only: its progress record (keys.delivery) is what stops a
        // second post when the same ending is delivered again.
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 5000 },
      },
    });
    const processor = async (job: Job<DeliveryJobData>) => {
      try {
        if (job.name === 'prompt' && job.data.round !== undefined) {
          await deliverPrompt(dependencies, job.data.taskId, job.data.round);
          return;
        }
        if (job.name === 'prompt-outcome' && job.data.round !== undefined && job.data.settlement) {
          await deliverPromptOutcome(dependencies, job.data.taskId, job.data.round, job.data.settlement);
          return;
        }
        await deliverTaskResult(dependencies, job.data.taskId, job.data.followUpRound ?? 1);
        dependencies.onDelivery?.('posted');
      } catch (error) {
        if (error instanceof PlatformSendError && !error.retryable) {
          throw new UnrecoverableError(`platform refused the post: ${error.message}`);
        }
        dependencies.onDelivery?.('retried');
        logger.warn(
          { taskId: job.data.taskId, attempt: job.attemptsMade + 1, error: describeError(error) },
          'posting a result failed; it will be retried',
        );
        throw error;
      }
    };
    // A lost Redis is reported once by RedisAvailability; calls that fail reject where they are handled.
    this.queue.on('error', (error) => {
      if (!isRedisConnectionError(error) && !isLapsedLockError(error))
        logger.error({ err: error }, 'delivery queue error');
    });
    this.worker = new Worker<DeliveryJobData>(deliveryQueueName, processor, {
      connection,
      prefix: config.redis.prefix,
      concurrency: 20,
      lockDuration: 5000,
      stalledInterval: 2000,
      maxStalledCount: 50,
      settings: { backoffStrategy: (attemptsMade, _type, error) => deliveryBackoffMs(attemptsMade, error) },
    });
    this.worker.on('failed', (job, error) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        dependencies.onDelivery?.('failed');
        logger.error({ taskId: job.data.taskId, error: error.message }, 'gave up posting a task result');
      }
    });
    this.worker.on('error', (error) => {
      // A lost Redis is reported once by RedisAvailability; BullMQ repeats it on every reconnect attempt, and
      // after it, once per job whose lock lapsed meanwhile (the stall check hands those out again).
      if (isRedisConnectionError(error) || isLapsedLockError(error))
        logger.debug({ err: error }, 'delivery worker error (Redis connection)');
      else logger.error({ err: error }, 'delivery worker error');
    });
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.queue.close();
  }
}
