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

/** What the gateway knows of a task on a board, before rendering. */
export type TaskBoardFacts = Omit<TaskBoardRow, 'statusLabel' | 'active' | 'facts'>;

/** A board row with the pieces every surface shows the same way. */
export function boardRowOf(facts: TaskBoardFacts): TaskBoardRow {
  return {
    ...facts,
    statusLabel: statusLabel(facts.status),
    active: activeStatuses.has(facts.status as TaskStatus),
    facts: `${formatDuration(facts.elapsedSeconds)} · ${stepCount(facts.steps)}${roundMark(facts)}${changeMark(facts)}`,
  };
}

/** A board: rows rendered and in tree order, with the counts by status. */
export function boardViewOf(sessionKey: string, rows: TaskBoardFacts[], settled: boolean): TaskBoardView {
  const counts = new Map<string, number>();
  for (const row of rows) counts.set(row.status, (counts.get(row.status) ?? 0) + 1);
  const summary = [...counts].map(([status, count]) => `${count} ${statusWord(status)}`).join(' · ');
  return { sessionKey, rows: orderAsTree(rows.map(boardRowOf)), summary, settled };
}

/** ` · round N` for a row whose task was reopened by a follow-up; empty otherwise. */
export function roundMark(row: TaskBoardFacts): string {
  return row.round === undefined || row.round < 2 ? '' : ` · round ${row.round}`;
}

/** ` · ±N files` for a row whose task changed files in its workspace; empty otherwise. */
export function changeMark(row: TaskBoardFacts): string {
  return row.changedFiles === undefined
    ? ''
    : ` · ±${row.changedFiles} file${row.changedFiles === 1 ? '' : 's'}`;
}

/** Rows in tree order: each task followed by the tasks it started. */
export function orderAsTree<Row extends TaskBoardFacts>(rows: Row[]): Row[] {
  const byParent = new Map<string | null, Row[]>();
  const ids = new Set(rows.map((row) => row.taskId));
  for (const row of rows) {
    const parent = row.parentTaskId && ids.has(row.parentTaskId) ? row.parentTaskId : null;
    byParent.set(parent, [...(byParent.get(parent) ?? []), row]);
  }
  const ordered: Row[] = [];
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
export function renderBoardText(
  view: Pick<TaskBoardView, 'sessionKey' | 'settled'> & { rows: TaskBoardFacts[] },
): string {
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
