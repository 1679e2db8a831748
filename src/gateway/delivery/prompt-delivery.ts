import { UnrecoverableError } from 'bullmq';
import { isParked, type TaskRecord, taskStatuses } from '../../tasks/task-record.ts';
import { promptResponseSchema, promptSchema } from '../../tasks/task-serialization.ts';
import type { OutboundMessage } from '../chat-adapter.ts';
import { PlatformSendError } from '../platform-send-error.ts';
import { type ChunkProgress, hashFieldProgress } from '../post-progress.ts';
import type { Thread } from '../thread.ts';
import {
  type DeliveryDependencies,
  originRefOf,
  progressSecondsOf,
  threadAt,
} from './delivery-dependencies.ts';
import { type PromptSettlement, promptFallbackText, promptMessage, promptOutcome } from './prompt-message.ts';

/*
 * A prompt's message lives through two delivery jobs: `prompt` posts it when the task parks, `prompt-outcome`
 * edits it once the round is settled (answered, decided, timed out, the task cancelled). The two may run at
 * once, on different gateways, in either order. They meet in one Redis hash per round:
 *   posted, messageId   written by the post, together, once the platform has the message;
 *   postedIntent        the create call about to be made (where creates take no key), until then;
 *   settled             the edited message, written by the outcome;
 *   editor, edited      who makes the edit (the first to claim it), and that it is made.
 * Each job writes its own field and then reads the other's (the outcome in one MULTI; the post once its
 * progress is recorded), so at least one of them sees both and edits; the claim makes it at most one. A retried job keeps its claim, so a gateway that dies mid-way
 * hands the edit to the same job's retry. A prompt settled before it was posted is never posted.
 */

type PromptMessage = Extract<OutboundMessage, { kind: 'prompt' }>;

/** What the outbox recorded of a settled round, as the endings pump hands it over (JSON kept as written). */
export interface SettlementJobData {
  /** The prompt as it was asked (JSON of the record's `prompt`). */
  prompt: string;
  /** The response (JSON), absent when the task ended while it waited. */
  response?: string;
  /** The status the task ended with while it waited, and its note. */
  ended?: string;
  note?: string;
  /** When the outbox recorded it (epoch ms). */
  at: number;
}

/**
 * Posts the prompt of a parked task's wait `round` in its origin thread, once: a retry after the post finds
 * it marked posted (and a crash between the post and the mark is covered by the idempotency key, or where
 * the platform takes none, by looking the message up). A task whose
 * wait is already over (answered quickly, cancelled) gets no post. Edits it at once when its round was
 * settled while it was being posted.
 */
export async function deliverPrompt(
  dependencies: DeliveryDependencies,
  taskId: string,
  round: number,
): Promise<void> {
  const { store, redis, config } = dependencies;
  const stateKey = promptStateKey(dependencies, taskId, round);
  const [posted, messageId, settled, intent] = await redis.hmget(
    stateKey,
    'posted',
    'messageId',
    'settled',
    'postedIntent',
  );
  if (Number(posted ?? 0) >= 1) {
    // Posted by an earlier attempt that stopped before its edit (or a gateway from before edits existed).
    if (messageId && settled) {
      const record = await store.get(taskId);
      if (record) await editOnce(dependencies, threadOf(dependencies, record), stateKey, messageId, 'prompt');
    }
    return;
  }
  if (settled) {
    // Settled before any attempt recorded the message: one may exist all the same (its gateway died between
    // the platform taking it and recording it), showing buttons no longer of use. Found, it gets its edit.
    if (intent) await settleUnrecorded(dependencies, taskId, stateKey, JSON.parse(settled) as PromptMessage);
    return;
  }
  const record = await store.get(taskId);
  if (!record) throw new UnrecoverableError(`task ${taskId} no longer exists`);
  if (record.prompt?.round !== round || !isParked(record.status)) return;
  const thread = threadOf(dependencies, record);
  const message = promptMessage(record, config.slack.command);
  if (!message) return;
  // One message: the Thread redacts it and cuts a long question or command to the platform's limit. It
  // records `posted` and `messageId` together before it resolves (and, where creates take no key, the call
  // about to be made, so a retry after a crash adopts the message instead of posting a second one): this
  // job's write, so the read of `settled` after it is the header's read.
  const { messageIds } = await thread.post(message, {
    key: `prompt:${taskId}:${round}`,
    progress: promptProgress(dependencies, stateKey),
  });
  const sentId = messageIds[0];
  if (!sentId) return;
  if (await redis.hget(stateKey, 'settled')) await editOnce(dependencies, thread, stateKey, sentId, 'prompt');
}

/**
 * Edits the posted prompt of a settled round to show its outcome, without buttons, once; nothing when it was
 * never posted (the post, if it is still to come, is skipped or makes the edit itself).
 */
export async function deliverPromptOutcome(
  dependencies: DeliveryDependencies,
  taskId: string,
  round: number,
  data: SettlementJobData,
): Promise<void> {
  const { store, redis, config, logger } = dependencies;
  const record = await store.get(taskId);
  if (!record) {
    logger.warn({ taskId, round }, 'settled prompt not shown: the task no longer exists');
    return;
  }
  const settlement = parseSettlement(taskId, data);
  const message = promptMessage(record, config.slack.command, settlement.prompt, promptOutcome(settlement));
  if (!message) return;
  const stateKey = promptStateKey(dependencies, taskId, round);
  const replies = await redis
    .multi()
    .hset(stateKey, 'settled', JSON.stringify(message))
    .expire(stateKey, progressSecondsOf(dependencies.config))
    .hget(stateKey, 'messageId')
    .exec();
  const messageId = replies?.[2]?.[1];
  if (typeof messageId !== 'string' || messageId === '') return;
  await editOnce(dependencies, threadOf(dependencies, record), stateKey, messageId, 'outcome');
}

/** Looks up a prompt message posted but never recorded, whose round is settled, and edits it once. */
async function settleUnrecorded(
  dependencies: DeliveryDependencies,
  taskId: string,
  stateKey: string,
  settled: PromptMessage,
): Promise<void> {
  const record = await dependencies.store.get(taskId);
  if (!record) return;
  const thread = threadOf(dependencies, record);
  // The message as it was posted: the settled one without its outcome.
  const { outcome: _outcome, ...asked } = settled.prompt;
  const posted: PromptMessage = {
    ...settled,
    prompt: asked,
    fallbackText: promptFallbackText(asked, dependencies.config.slack.command),
  };
  const messageId = await thread.adoptUnrecorded(posted, promptProgress(dependencies, stateKey));
  if (messageId) await editOnce(dependencies, thread, stateKey, messageId, 'prompt');
}

/** Makes the edit if this job holds (or now takes) the claim to it and it is not made yet. */
async function editOnce(
  dependencies: DeliveryDependencies,
  thread: Thread,
  stateKey: string,
  messageId: string,
  editor: 'prompt' | 'outcome',
): Promise<void> {
  const { redis, logger } = dependencies;
  const replies = await redis
    .multi()
    .hsetnx(stateKey, 'editor', editor)
    .expire(stateKey, progressSecondsOf(dependencies.config))
    .hmget(stateKey, 'editor', 'edited', 'settled')
    .exec();
  const [claimedBy, edited, settled] = (replies?.[2]?.[1] ?? []) as (string | null)[];
  if (claimedBy !== editor || edited || !settled) return;
  try {
    await thread.update(messageId, JSON.parse(settled) as PromptMessage);
  } catch (error) {
    // Someone deleted the message (or the thread): there is nothing left to edit, which is no failure.
    if (!(error instanceof PlatformSendError) || error.retryable) throw error;
    logger.warn({ err: error, messageId }, 'settled prompt not shown: the platform refused the edit');
  }
  await redis
    .multi()
    .hset(stateKey, 'edited', '1')
    .expire(stateKey, progressSecondsOf(dependencies.config))
    .exec();
}

function parseSettlement(taskId: string, data: SettlementJobData): PromptSettlement {
  const parse = <T>(text: string, schema: { safeParse(value: unknown): { success: boolean; data?: T } }) => {
    let parsed: { success: boolean; data?: T };
    try {
      parsed = schema.safeParse(JSON.parse(text));
    } catch {
      parsed = { success: false };
    }
    if (!parsed.success) throw new UnrecoverableError(`task ${taskId}: its settled prompt cannot be read`);
    return parsed.data as T;
  };
  const prompt = parse(data.prompt, promptSchema);
  if (data.response) return { prompt, response: parse(data.response, promptResponseSchema) };
  const status = taskStatuses.find((known) => known === data.ended) ?? 'cancelled';
  return { prompt, ended: { status, ...(data.note ? { note: data.note } : {}), at: data.at } };
}

function promptStateKey(
  dependencies: Pick<DeliveryDependencies, 'keys'>,
  taskId: string,
  round: number,
): string {
  return dependencies.keys.delivery(`${taskId}:prompt:${round}`);
}

function threadOf(dependencies: DeliveryDependencies, record: TaskRecord): Thread {
  return threadAt(dependencies, originRefOf(record));
}

/** The post's progress, kept in the round's hash beside the other jobs' fields (see the header). */
function promptProgress(dependencies: DeliveryDependencies, stateKey: string): ChunkProgress {
  const seconds = progressSecondsOf(dependencies.config);
  return hashFieldProgress(dependencies.redis, stateKey, 'posted', seconds, 'messageId');
}
