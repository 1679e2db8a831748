import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BatonConfig } from '../../config/schema.ts';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../logging/logger.ts';
import { redactSecrets } from '../../logging/redact-secrets.ts';
import { keyLifetimes } from '../../redis/key-lifetimes.ts';
import { isLapsedLockError, isRedisConnectionError } from '../../redis/redis-connection.ts';
import type { RedisKeys } from '../../redis/redis-keys.ts';
import type { SessionHistory } from '../../sessions/session-history.ts';
import { isParked, isTerminal, roundOf } from '../../tasks/task-record.ts';
import type { TaskStore } from '../../tasks/task-store.ts';
import { cutText } from '../../text/cut-text.ts';
import type { ChatAdapter, ConversationRef } from '../chat-adapter.ts';
import { chunkText } from '../chunk-text.ts';
import { PlatformSendError } from '../platform-send-error.ts';
import { promptMessage } from './prompt-message.ts';
import { historyNoteText, resultMessageText } from './result-text.ts';

export const deliveryQueueName = 'baton-deliveries';

const progressSeconds = keyLifetimes.deliveryProgress;

export interface DeliveryJobData {
  taskId: string;
  /** Which round's result (a task reopened by a follow-up has several); absent: the first. */
  followUpRound?: number;
  /** Set for a job posting a parked task's prompt (job name `prompt`): the wait round it asks for. */
  round?: number;
}

export type DeliveryOutcome = 'posted' | 'failed' | 'retried';

export interface DeliveryDependencies {
  config: BatonConfig;
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  history: SessionHistory;
  adapterFor(platform: string): ChatAdapter | undefined;
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
  const adapter = dependencies.adapterFor(ref.platform);
  if (!adapter) throw new UnrecoverableError(`no ${ref.platform} adapter runs in this gateway`);
  const text = redactSecrets(resultMessageText(record, await store.fullSummary(taskId)));
  const chunks = chunkText(text, adapter.limits.maxMessageChars);
  const alreadySent = Number((await redis.hget(progressKey, 'chunksSent')) ?? 0);
  for (let index = alreadySent; index < chunks.length; index += 1) {
    await adapter.send(ref, {
      kind: 'text',
      text: chunks[index]!,
      // Each round's result is a message of its own: its key must not match an earlier round's.
      idempotencyKey: round > 1 ? `delivery:${taskId}:r${round}:${index}` : `delivery:${taskId}:${index}`,
    });
    await redis.hset(progressKey, 'chunksSent', String(index + 1));
  }
  await redis.expire(progressKey, progressSeconds);
}

/**
 * Posts the prompt of a parked task's wait `round` in its origin thread, once: a retry after the post
 * finds it marked posted (and the idempotency key covers a crash between the post and the mark). A task
 * whose wait is already over (answered quickly, cancelled) gets no post.
 */
export async function deliverPrompt(
  dependencies: DeliveryDependencies,
  taskId: string,
  round: number,
): Promise<void> {
  const { store, redis, keys, config } = dependencies;
  const record = await store.get(taskId);
  if (!record) throw new UnrecoverableError(`task ${taskId} no longer exists`);
  if (record.prompt?.round !== round || !isParked(record.status)) return;
  const progressKey = keys.delivery(`${taskId}:prompt:${round}`);
  if ((await redis.hget(progressKey, 'posted')) === '1') return;
  const ref: ConversationRef = {
    platform: record.origin.platform,
    channel: record.origin.channel,
    thread: record.origin.thread,
  };
  const adapter = dependencies.adapterFor(ref.platform);
  if (!adapter) throw new UnrecoverableError(`no ${ref.platform} adapter runs in this gateway`);
  const message = promptMessage(record, config.slack.command);
  if (!message) return;
  // One message, within the platform's limit: a long question or command is cut, never split.
  const fallbackText = cutText(redactSecrets(message.fallbackText), adapter.limits.maxMessageChars);
  await adapter.send(ref, { ...message, fallbackText });
  await redis.multi().hset(progressKey, 'posted', '1').expire(progressKey, progressSeconds).exec();
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
      defaultJobOptions: {
        attempts: config.gateway.delivery_max_attempts,
        backoff: { type: 'platform' },
        removeOnComplete: { count: 5000 },
        removeOnFail: { count: 5000 },
      },
    });
    const processor = async (job: Job<DeliveryJobData>) => {
      try {
        if (job.name === 'prompt' && job.data.round !== undefined) {
          await deliverPrompt(dependencies, job.data.taskId, job.data.round);
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
