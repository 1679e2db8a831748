import { BatonError } from '../errors.ts';
import type { TaskRecord } from './task-record.ts';

/*
 * People's responses to a parked task's prompt (TaskService.answer and decide): how an answer is read, and
 * how a response that comes when the task does not wait for it is refused.
 */

/** Longest answer or denial reason a task event shows, in characters. */
export const responseEventChars = 200;
/** Longest answer a person may give, in characters. */
export const maxAnswerChars = 8000;

/** The refusal of an answer or decision for a task that does not wait for one (any more). */
export function notWaiting(record: TaskRecord, what: string, stale = false): BatonError {
  const already =
    record.status === 'queued' || record.status === 'running'
      ? 'its wait is over (answered, decided or timed out) and it is back at work'
      : stale
        ? 'that one was already settled; it waits on a newer one'
        : `it is ${record.status.replace('_', ' ')}`;
  return new BatonError('task_not_waiting', `task ${record.id} is not waiting for ${what}: ${already}`, {
    fault: 'user',
  });
}

export function expired(record: TaskRecord): BatonError {
  return new BatonError(
    'task_not_waiting',
    `task ${record.id}'s wait has timed out; it goes on without a response as soon as a worker takes it`,
    { fault: 'user' },
  );
}

/** `#n` picks the n-th choice (1-based); anything else is the answer as written. */
export function resolveAnswer(text: string, choices: readonly string[]): string {
  const trimmed = text.trim();
  const pick = /^#(\d+)$/.exec(trimmed);
  if (pick) {
    const index = Number(pick[1]);
    if (index < 1 || index > choices.length) {
      throw new BatonError(
        'invalid_arguments',
        choices.length === 0
          ? 'this question has no choices: answer in words'
          : `choose #1 to #${choices.length}, or answer in words`,
        { fault: 'user' },
      );
    }
    return choices[index - 1]!;
  }
  if (trimmed === '') throw new BatonError('invalid_arguments', 'the answer is empty', { fault: 'user' });
  if (trimmed.length > maxAnswerChars) {
    throw new BatonError('invalid_arguments', `an answer has at most ${maxAnswerChars} characters`, {
      fault: 'user',
    });
  }
  return trimmed;
}
