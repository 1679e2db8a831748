import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BatonConfig } from '../../config/schema.ts';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../logging/logger.ts';
import { retentionSecondsOf, taskKeySeconds } from '../../redis/key-lifetimes.ts';
import { isLapsedLockError, isRedisConnectionError } from '../../redis/redis-connection.ts';
import type { RedisKeys } from '../../redis/redis-keys.ts';
import type { SessionHistory } from '../../sessions/session-history.ts';
import { isTerminal, roundOf } from '../../tasks/task-record.ts';
import type { TaskStore } from '../../tasks/task-store.ts';
import type { ConversationRef } from '../chat-adapter.ts';
import { PlatformSendError } from '../platform-send-error.ts';
import { hashFieldProgress } from '../post-progress.ts';
import type { Thread } from '../thread.ts';
import { deliverPrompt, deliverPromptOutcome, type SettlementJobData } from './prompt-delivery.ts';
import { historyNoteText, resultMessageText } from './result-text.ts';

export const deliveryQueueName = 'baton-deliveries';

/** How long a delivery's progress is kept: past any retry of its job, never past its task's record. */
function progressSecondsOf(config: BatonConfig): number {
  return taskKeySeconds('deliveryProgress', retentionSecondsOf(config.redis.retention_days));
}

export interface DeliveryJobData {
  taskId: string;
  /** Which round's result (a task reopened by a follow-up has several); absent: the first. */
  followUpRound?: number;
  /** Set for a job posting a parked task's prompt (job name `prompt`), or editing it once settled: the wait round. */
  round?: number;
  /** Set for a job editing a settled prompt (job name `prompt-outcome`): how it was settled. */
  settlement?: SettlementJobData;
}

export type DeliveryOutcome = 'posted' | 'failed' | 'retried';

export interface DeliveryDependencies {
  config: BatonConfig;
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  history: SessionHistory;
  /** The outbound path to a conversation; undefined when no adapter of its platform runs here. */
  threadFor(ref: ConversationRef): Thread | undefined;
  /** Gives the parent a turn to write the reply (delegation.announce: parent). */
  queueParentTurn(ref: ConversationRef, sessionKey: string, taskId: string): Promise<void>;
  logger: Logger;
  onDelivery?(outcome: DeliveryOutcome): void;
}

/**
 * Posting a result is never replayed whole: a retry resumes at the first chunk not yet sent, so a
 * platform outage or a gateway killed mid-delivery never posts a chunk twice. Progress lives in Redis.
 */
export async function deliverTaskResult(
  dependencies: DeliveryDependencies,
  taskId: string,
  round = 1,
): Promise<void> {
  const { store, redis, keys, config } = dependencies;
  const record = await store.get(taskId);
  if (!record) throw new UnrecoverableError(`task ${taskId} no longer exists`);
  if (roundOf(record) !== round) {
    // Reopened again before this round's result went out: the record holds the newer round now, whose own
    // result is posted when it ends.
    dependencies.logger.warn(
      { taskId, round, current: roundOf(record) },
      'result superseded by a newer round',
    );
    return;
  }
  if (!isTerminal(record.status)) throw new UnrecoverableError(`task ${taskId} has not ended`);
  const ref: ConversationRef = {
    platform: record.origin.platform,
    channel: record.origin.channel,
    thread: record.origin.thread,
  };
  const progressKey = keys.delivery(taskId, round);
  const progressSeconds = progressSecondsOf(config);
  const announce = config.delegation.announce;
  if (announce === 'parent') {
    // The parent's turn takes the note as its input and records it in the history itself.
    // The mark expires as the other modes' progress does.
    const replies = await redis
      .multi()
      .hsetnx(progressKey, 'turnQueued', '1')
      .expire(progressKey, progressSeconds)
      .exec();
    if (replies?.[0]?.[1] === 1) {
      await dependencies.queueParentTurn(ref, record.sessionKey, taskId);
    }
    return;
  }
  await dependencies.history.appendOnce(
    record.sessionKey,
    [{ role: 'user', content: historyNoteText(record) }],
    { key: progressKey, field: 'historyAppended', seconds: progressSeconds },
  );
  if (announce === 'silent') return;
  const thread = dependencies.threadFor(ref);
  if (!thread) throw new UnrecoverableError(`no ${ref.platform} adapter runs in this gateway`);
  // The Thread redacts, splits, and posts chunk i with the key `<key>:<i>`, recording each. Each round's
  // result is a message of its own: its key must not match an earlier round's.
  await thread.post(
    { kind: 'text', text: resultMessageText(record, await store.fullSummary(taskId)) },
    {
      key: round > 1 ? `delivery:${taskId}:r${round}` : `delivery:${taskId}`,
      progress: hashFieldProgress(redis, progressKey, 'chunksSent', progressSeconds),
    },
  );
  await redis.expire(progressKey, progressSeconds);
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
