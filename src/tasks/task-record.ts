import type { TokenUsage } from '../llm/model-client.ts';
import type { OutputSchema } from './output-schema.ts';

export const taskStatuses = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;
export type TaskStatus = (typeof taskStatuses)[number];

const terminalStatuses: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled', 'timed_out']);
export const activeStatuses: ReadonlySet<TaskStatus> = new Set(['queued', 'running']);

/** The only legal moves; a finished task never moves again (so a cancelled task never becomes completed). */
export const legalTransitions: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  queued: ['running', 'cancelled', 'failed', 'timed_out'],
  running: ['completed', 'failed', 'cancelled', 'timed_out'],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

export function isTerminal(status: TaskStatus): boolean {
  return terminalStatuses.has(status);
}

/** Names a toolset's tools; `delegation` is special: only orchestrator children with depth to spare get it. */
export const delegationToolsetName = 'delegation';

/** Where a task came from: the chat thread its result goes back to, and the person who asked. */
export interface TaskOrigin {
  platform: string;
  channel: string;
  thread: string;
  /** Platform user id of the requester (the task's owner). */
  user: string;
  /** Display name, for steering messages and boards. */
  userName?: string;
  /** The owner's role ids when the task started, so a turn the task's ending starts can act as them. */
  userRoleIds?: string[];
  /** The owner's Discord guild / Slack team. */
  workspaceId?: string;
  /** The owner was trusted by construction (the local console). */
  userTrusted?: boolean;
  /** Started in a thread only its members see (a Discord private thread): listings elsewhere hide it. */
  privateThread?: boolean;
}

export type ChildRole = 'leaf' | 'orchestrator';

/** One child agent run, as stored in Redis. */
export interface TaskRecord {
  id: string;
  sessionKey: string;
  origin: TaskOrigin;
  parentTaskId: string | null;
  depth: number;
  role: ChildRole;
  goal: string;
  context: string;
  toolsets: string[];
  route: string;
  status: TaskStatus;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  steps: number;
  usage: TokenUsage;
  /** Final summary, capped by `delegation.max_summary_chars`; the full text is under its own key. */
  summary: string | null;
  error: string | null;
  /** How many times a worker has picked the task up (more than one after a crash or a restart). */
  attempts: number;
  /** The configured workspace (workspaces.<name>) the child works in; absent: a scratch directory, if any. */
  workspace?: string;
  /** What a completed child changed in its workspace. */
  change?: TaskWorkspaceChange;
  /** The merge of that change into its workspace's branch, once someone merged it. */
  merge?: TaskMerge;
  /** The JSON Schema the final answer must match (`output_schema`); absent when the caller gave none. */
  outputSchema?: OutputSchema;
  /** How the final answer measured against `outputSchema`; absent without a schema or before completion. */
  structured?: StructuredResult;
}

/** A completed task's answer checked against its `output_schema`. */
export interface StructuredResult {
  /** True when the answer held JSON matching the schema (at once or after the one correction turn). */
  schemaValid: boolean;
  /** The parsed JSON; present only when valid. */
  output?: unknown;
  /** What did not match, after the correction turn; present only when not valid. */
  errors?: string[];
}

/** Files changed and lines added and removed by a child in its workspace; `branch` when pushed to the source. */
export interface TaskWorkspaceChange {
  files: number;
  added: number;
  removed: number;
  branch?: string;
}

/** Who merged a task's change, when (ms since the epoch), into which branch, as which commit. */
export interface TaskMerge {
  by: string;
  at: number;
  into: string;
  commit: string;
}

export interface NewTask {
  goal: string;
  context: string;
  toolsets: string[];
  route: string;
  role: ChildRole;
  outputSchema?: OutputSchema;
  workspace?: string;
}

/** Event kinds of a task's event stream, named noun-verb. */
export type TaskEventType =
  | 'status-change'
  | 'step-start'
  | 'step-end'
  | 'tool-call'
  | 'tool-result'
  | 'steer-queued'
  | 'steer-applied'
  | 'note';

export interface TaskEvent {
  id: string;
  type: TaskEventType;
  at: number;
  text: string;
}
