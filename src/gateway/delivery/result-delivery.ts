import { UnrecoverableError } from 'bullmq';
import { isTerminal, roundOf } from '../../tasks/task-record.ts';
import { hashFieldProgress } from '../post-progress.ts';
import {
  type DeliveryDependencies,
  originRefOf,
  progressSecondsOf,
  threadAt,
} from './delivery-dependencies.ts';
import { historyNoteText, resultMessageText } from './result-text.ts';

/**
 * Posting a result is never replayed whole: a retry resumes at the first chunk not yet sent, so a
 * platform outage or a gateway killed mid-delivery never posts a chunk twice. Progress lives in Redis
 * (`chunksSent`, and `chunksSentIntent` while a create call's outcome is unknown: see Thread.postPiece).
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
  const ref = originRefOf(record);
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
  const thread = threadAt(dependencies, ref);
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
