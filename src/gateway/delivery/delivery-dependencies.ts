import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BatonConfig } from '../../config/schema.ts';
import type { Logger } from '../../logging/logger.ts';
import { retentionSecondsOf, taskKeySeconds } from '../../redis/key-lifetimes.ts';
import type { RedisKeys } from '../../redis/redis-keys.ts';
import type { SessionHistory } from '../../sessions/session-history.ts';
import type { TaskRecord } from '../../tasks/task-record.ts';
import type { TaskStore } from '../../tasks/task-store.ts';
import type { ConversationRef } from '../chat-adapter.ts';
import type { Thread } from '../thread.ts';

/** How a result's delivery went, for the gateway's metrics. */
export type DeliveryOutcome = 'posted' | 'failed' | 'retried';

/** What the delivery jobs (results, prompts, settled prompts) work with: the gateway hands these in. */
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

/** How long a delivery's progress is kept: past any retry of its job, never past its task's record. */
export function progressSecondsOf(config: BatonConfig): number {
  return taskKeySeconds('deliveryProgress', retentionSecondsOf(config.redis.retention_days));
}

/** The conversation a task came from, where its results and prompts go. */
export function originRefOf(record: TaskRecord): ConversationRef {
  return { platform: record.origin.platform, channel: record.origin.channel, thread: record.origin.thread };
}

/** The outbound path to `ref`; a job for a platform no adapter here runs fails for good. */
export function threadAt(
  dependencies: Pick<DeliveryDependencies, 'threadFor'>,
  ref: ConversationRef,
): Thread {
  const thread = dependencies.threadFor(ref);
  if (!thread) throw new UnrecoverableError(`no ${ref.platform} adapter runs in this gateway`);
  return thread;
}
