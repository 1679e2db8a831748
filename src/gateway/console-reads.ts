/**
 * What the web console reads for its pages, as plain data: the task tree of every session, one task's
 * detail, the usage report, a task's workspace diff, and a nudge when any task changes. Part of the port
 * (like `chat-adapter.ts`): the console depends on this, the gateway implements it (`TaskReader`) over the
 * task store, the task signals, the usage ledger and the workspaces.
 */
import type { TaskEvent, TaskRecord, TaskStatus } from '../tasks/task-record.ts';
import type { DiffFile } from '../tools/workspace/parse-diff.ts';
import type { UsageAmounts } from '../usage/usage-cost.ts';
import type { UsageOverview } from '../usage/usage-report.ts';
import type { ConversationRef } from './chat-adapter.ts';

export type { DiffFile, TaskEvent, TaskRecord, TaskStatus, UsageAmounts, UsageOverview };

/** One task of the tree; `children` are the tasks it started. */
export interface TaskTreeNode {
  id: string;
  goal: string;
  status: TaskStatus;
  elapsedSeconds: number;
  steps: number;
  /** Files a completed child changed in its workspace; absent for tasks without one. */
  changedFiles?: number;
  /** The task's round when a follow-up reopened it (2 and up); absent for a task never reopened. */
  round?: number;
  /** The task's last event as a short line (UTC time, type, text); empty before its first event. */
  lastActivity: string;
  /**
   * The same event in parts, so a page can show the time in the viewer's zone; `activity` says it for
   * people (`step 2 started`, `finished after 4 steps`).
   */
  lastEvent: { type: string; text: string; at: number; activity: string } | null;
  /** Model tokens the task has used so far (its record's count). */
  tokens: number;
  /** What those calls cost, in the unit of the routes' prices, from the usage ledger; null without one. */
  cost: number | null;
  /** The goal was longer than `goal` shows. */
  goalCut: boolean;
  parentTaskId: string | null;
  depth: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  origin: ConversationRef;
  children: TaskTreeNode[];
}

/** The tasks of one session (one chat thread on any platform). */
export interface TaskTreeSession {
  sessionKey: string;
  origin: ConversationRef;
  activeCount: number;
  /** Top-level tasks in the order they started, each followed by the tasks it started. */
  tasks: TaskTreeNode[];
}

export interface TaskTreeSnapshot {
  /** Milliseconds since the epoch. */
  generatedAt: number;
  activeCount: number;
  /** Id of the newest task listed, so a cheap check can tell when a new one was dispatched. */
  newestTaskId: string | null;
  /** Sessions with active tasks first, then by their newest task. */
  sessions: TaskTreeSession[];
}

/** One task as its detail panel shows it. */
export interface TaskDetail {
  task: TaskRecord & { elapsedSeconds: number; durationSeconds: number };
  /** What the task's model calls used and cost (last 30 days); null without a usage ledger. */
  usage: (UsageAmounts & { tokens: number }) | null;
  /** The most recent events, oldest first: `line` as text, `activity` for people. */
  events: Array<TaskEvent & { line: string; activity: string }>;
  /** The whole final summary once the task has ended; null before. */
  summary: string | null;
}

/** What the console reads; the gateway's `TaskReader` implements it. */
export interface ConsoleReads {
  /** The newest tasks across every session (at most `taskTreeLimit`), grouped by session, nested by parent. */
  taskTree(): Promise<TaskTreeSnapshot>;
  /** Id of the newest task of all, cheaply: whether a task was dispatched since the last tree. */
  newestTaskId(): Promise<string | null>;
  /** A task's detail; null for an id that is not a task's. */
  taskDetail(taskId: string): Promise<TaskDetail | null>;
  /** The conversation a task was started in (where its commands act); null for an unknown task. */
  taskOrigin(taskId: string): Promise<ConversationRef | null>;
  /** Tokens and cost per person, channel, task and route, today and over 30 days; null without a ledger. */
  usageOverview(): Promise<UsageOverview | null>;
  /** A task's workspace change as files and hunks; null when it has none (or no workspaces are set up). */
  taskDiff(taskId: string): Promise<DiffFile[] | null>;
  /** Calls `listener` whenever any task changes (queued, parked, ended…); returns the unsubscribe. */
  onTaskChange(listener: () => void): () => void;
}

/** How many tasks the tree shows, newest first, across every session. */
export const taskTreeLimit = 200;
