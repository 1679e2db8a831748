import { cutText, oneLine } from '../text/cut-text.ts';
import type { TaskEvent, TaskRecord, TaskStatus } from './task-record.ts';

/*
 * How a task reads to people and to models: timings, goal, steps and events as short text. One home for
 * the words the chat commands, boards, result messages, the console and the delegation tools share.
 */

function secondsBetween(start: number | null, end: number | null): number {
  if (start === null) return 0;
  return Math.round(((end ?? Date.now()) - start) / 100) / 10;
}

/** Seconds since the task was created, up to its end. */
export function elapsedSeconds(record: TaskRecord): number {
  return secondsBetween(record.createdAt, record.endedAt);
}

/** Seconds the task ran (from its first start to its end). */
export function durationSeconds(record: TaskRecord): number {
  return secondsBetween(record.startedAt, record.endedAt);
}

/** The goal on one line, in at most `length` code units (default 80). */
export function shortGoal(goal: string, length = 80): string {
  return cutText(oneLine(goal), length);
}

/** `14:03:07 tool-call fetch_url …`: the event's UTC time, type and text. */
export function eventLine(event: TaskEvent): string {
  const time = new Date(event.at).toISOString().slice(11, 19);
  return `${time} ${event.type}${event.text ? ` ${event.text}` : ''}`;
}

/** `42s`, `2m 03s`, `1h 05m`: whole seconds, rounded down. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `1 step`, `4 steps`. */
export function stepCount(steps: number): string {
  return `${steps} step${steps === 1 ? '' : 's'}`;
}

/** The status as a plain word: `timed out`, not `timed_out`. */
export function statusWord(status: TaskStatus | string): string {
  return status.replace('_', ' ');
}

/** `t_7k2m9q · running · 2m 03s · 4 steps · check the deploy logs` */
export function taskLine(record: TaskRecord): string {
  return [
    record.id,
    statusWord(record.status),
    formatDuration(elapsedSeconds(record)),
    stepCount(record.steps),
    shortGoal(record.goal, 60),
  ].join(' · ');
}
