import { roundOf, type TaskRecord } from '../../tasks/task-record.ts';
import { durationSeconds, formatDuration, shortGoal, stepCount } from '../../tasks/task-views.ts';
import { oneLine } from '../../text/cut-text.ts';

/** The message posted in the thread when a task ends (delegation.announce: result). */
export function resultMessageText(record: TaskRecord, fullSummary: string | null): string {
  // A reopened task's later results name their round, so each reads as the answer to its follow-up.
  const round = roundOf(record) > 1 ? ` · round ${roundOf(record)}` : '';
  const facts = `${stepCount(record.steps)} · ${formatDuration(durationSeconds(record))}${round}`;
  const goal = `> ${shortGoal(record.goal, 200)}`;
  // The goal is quoted so a result can be told apart, unless the result already opens with it.
  const resultGoal = opensWithGoal(fullSummary ?? record.summary, record.goal) ? '' : `\n${goal}`;
  switch (record.status) {
    case 'completed':
      return `✅ **Task ${record.id} completed** · ${facts}${resultGoal}\n\n${fullSummary ?? record.summary ?? ''}`.trim();
    case 'failed':
      // Over a daily budget (quotas.daily_*): the error carries the budget and the partial work.
      if (record.error?.startsWith('budget_exhausted:')) {
        return `💸 **Task ${record.id} stopped: budget exhausted** · ${facts}\n${goal}\n\n${record.error}`;
      }
      return `❌ **Task ${record.id} failed** · ${facts}\n${goal}\n\n${record.error ?? 'no reason recorded'}`;
    case 'timed_out':
      return `⏱️ **Task ${record.id} timed out** · ${facts}\n${goal}\n\n${record.error ?? ''}`.trim();
    case 'cancelled':
      return `⏹️ **Task ${record.id} was cancelled** · ${facts}\n${goal}`;
    default:
      return `Task ${record.id} is ${record.status}.`;
  }
}

/** The note added to the parent's conversation, so follow-ups can refer to the result. */
export function historyNoteText(record: TaskRecord): string {
  const outcome =
    record.status === 'completed'
      ? `Result:\n${record.summary ?? ''}`
      : `Reason: ${record.error ?? (record.status === 'cancelled' ? 'cancelled' : 'unknown')}`;
  const round = roundOf(record) > 1 ? ` (round ${roundOf(record)})` : '';
  return `[Background task ${record.id} ${record.status}${round}] Goal: ${shortGoal(record.goal, 300)}\n${outcome}`;
}

/** Markdown marks, case and spacing aside, for comparing a goal with the start of a result. */
function comparable(text: string): string {
  return oneLine(text.replace(/[*_`>#]/g, '')).toLowerCase();
}

/** Whether the result's first few lines already say the goal (a child that restates its task). */
function opensWithGoal(summary: string | null, goal: string): boolean {
  if (!summary) return false;
  const wanted = comparable(goal);
  return wanted.length > 0 && comparable(summary.slice(0, wanted.length + 400)).includes(wanted);
}
