import { activeStatuses, type TaskStatus } from '../tasks/task-record.ts';
import { formatDuration, statusWord, stepCount } from '../tasks/task-views.ts';
import type { TaskBoardRow, TaskBoardView } from './chat-adapter.ts';

const statusMarks: Record<string, string> = {
  queued: '⏳ queued',
  running: '🔄 running',
  waiting_input: '❓ waiting for an answer',
  waiting_approval: '🔐 waiting for approval',
  completed: '✅ completed',
  failed: '❌ failed',
  cancelled: '⏹️ cancelled',
  timed_out: '⏱️ timed out',
};

export function statusLabel(status: string): string {
  return statusMarks[status] ?? status;
}

/** ` · round N` for a row whose task was reopened by a follow-up; empty otherwise. */
export function roundMark(row: TaskBoardRow): string {
  return row.round === undefined || row.round < 2 ? '' : ` · round ${row.round}`;
}

/** ` · ±N files` for a row whose task changed files in its workspace; empty otherwise. */
export function changeMark(row: TaskBoardRow): string {
  return row.changedFiles === undefined
    ? ''
    : ` · ±${row.changedFiles} file${row.changedFiles === 1 ? '' : 's'}`;
}

/** Rows in tree order: each task followed by the tasks it started. */
export function orderAsTree(rows: TaskBoardRow[]): TaskBoardRow[] {
  const byParent = new Map<string | null, TaskBoardRow[]>();
  const ids = new Set(rows.map((row) => row.taskId));
  for (const row of rows) {
    const parent = row.parentTaskId && ids.has(row.parentTaskId) ? row.parentTaskId : null;
    byParent.set(parent, [...(byParent.get(parent) ?? []), row]);
  }
  const ordered: TaskBoardRow[] = [];
  const visit = (parent: string | null) => {
    for (const row of byParent.get(parent) ?? []) {
      ordered.push(row);
      visit(row.taskId);
    }
  };
  visit(null);
  return ordered;
}

/** The task board as Markdown text, for platforms without richer rendering and as a fallback. */
export function renderBoardText(view: TaskBoardView): string {
  const counts = new Map<string, number>();
  for (const row of view.rows) counts.set(row.status, (counts.get(row.status) ?? 0) + 1);
  const summary = [...counts].map(([status, count]) => `${count} ${statusWord(status)}`).join(' · ');
  const lines = [`**Tasks** · ${summary}${view.settled ? ' · all done' : ''}`];
  for (const row of orderAsTree(view.rows)) {
    const indent = '  '.repeat(Math.max(0, row.depth - 1));
    // Parked tasks show what they wait for (their prompt), or the decision that sent them on.
    const active = activeStatuses.has(row.status as TaskStatus);
    lines.push(
      `${indent}• \`${row.taskId}\` ${statusLabel(row.status)} · ${formatDuration(row.elapsedSeconds)} · ` +
        `${stepCount(row.steps)}${roundMark(row)}${changeMark(row)} — ${row.goal}`,
    );
    if (active && row.lastActivity) lines.push(`${indent}  ↳ ${row.lastActivity}`);
  }
  return lines.join('\n');
}
