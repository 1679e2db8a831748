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

/**
 * What an event means, for people: `step 2 started`, `using fetch_url: https://…`, `finished after 4
 * steps`, instead of the event's type and raw text. `steps` is the task's step count (for its ending).
 */
export function activityText(event: Pick<TaskEvent, 'type' | 'text'>, steps: number): string {
  const text = event.text.trim();
  switch (event.type) {
    case 'step-start':
      return /^step \d+$/.test(text) ? `${text} started` : `step started: ${text}`;
    case 'step-end':
      return text ? `step ended: ${text}` : 'step ended';
    case 'tool-call': {
      const [name = 'a tool', ...rest] = text.split(' ');
      const argument = soleArgument(rest.join(' '));
      return argument ? `using ${name}: ${cutText(oneLine(argument), 100)}` : `using ${name}`;
    }
    case 'tool-result': {
      const [name = 'a tool', ...rest] = text.split(' ');
      const verdict = rest.join(' ');
      return /^ok \(\d+ chars\)$/.test(verdict) ? `${name} answered` : `${name} failed: ${verdict}`;
    }
    case 'steer-queued':
      return `steering ${text} waits for the next step`;
    case 'steer-applied':
      return `read steering ${text}`;
    case 'status-change':
      return statusChangeText(text, steps);
    default:
      return text;
  }
}

/** The one string value of a tool call's JSON arguments (`{"url": "…"}`), if that is all they hold. */
function soleArgument(json: string): string | null {
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed === null || typeof parsed !== 'object') return null;
    const values = Object.values(parsed);
    return values.length === 1 && typeof values[0] === 'string' ? values[0] : null;
  } catch {
    return null;
  }
}

/** `queued`, `queued -> running`, `running -> completed: note` as words. */
function statusChangeText(text: string, steps: number): string {
  const match = /^([a-z_]+)(?: -> ([a-z_]+))?(.*)$/s.exec(text);
  if (!match) return text;
  const [, from, to, rest = ''] = match;
  const note = rest.replace(/^[\s:;,-]+/, '').trim();
  const withNote = (words: string) => (note ? `${words}: ${note}` : words);
  if (!to) return withNote(from === 'queued' ? 'waiting for a worker' : statusWord(from!));
  if (to === 'running') return withNote(from === 'queued' ? 'started' : 'running again');
  if (to === 'completed') return withNote(`finished after ${stepCount(steps)}`);
  if (to === 'queued') return withNote('waiting to run again');
  return withNote(`${statusWord(to!)} after ${stepCount(steps)}`);
}
