import type { TokenUsage } from '../llm/model-client.ts';
import type { OutputSchema } from './output-schema.ts';

export const taskStatuses = [
  'queued',
  'running',
  'waiting_input',
  'waiting_approval',
  'completed',
  'failed',
  'cancelled',
  'timed_out',
] as const;
export type TaskStatus = (typeof taskStatuses)[number];

const terminalStatuses: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled', 'timed_out']);
/** Not finished: queued, running, or parked waiting for a person (boards show these with their controls). */
export const activeStatuses: ReadonlySet<TaskStatus> = new Set([
  'queued',
  'running',
  'waiting_input',
  'waiting_approval',
]);
/**
 * Parked: waiting for a person's answer or approval. A parked task holds no worker slot and no job in any
 * worker, and leaves the counts of running or queued tasks (delegation.max_concurrent_children, quotas.*);
 * delegation.max_parked_per_session caps these.
 */
export const parkedStatuses: ReadonlySet<TaskStatus> = new Set(['waiting_input', 'waiting_approval']);

/**
 * The only legal moves; a finished task never moves again (so a cancelled task never becomes completed).
 * The one exception is not a transition of this table: a completed task reopened by a steer goes back to
 * queued for another round, only through lua/reopen-task.lua (see TaskStore.reopen).
 */
export const legalTransitions: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  queued: ['running', 'cancelled', 'failed', 'timed_out'],
  running: ['completed', 'failed', 'cancelled', 'timed_out', 'waiting_input', 'waiting_approval'],
  // An answer, a decision or the prompt's time-out puts the task back in the queue (settle-prompt.lua).
  waiting_input: ['queued', 'cancelled', 'failed', 'timed_out'],
  waiting_approval: ['queued', 'cancelled', 'failed', 'timed_out'],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

export function isTerminal(status: TaskStatus): boolean {
  return terminalStatuses.has(status);
}

export function isParked(status: TaskStatus): boolean {
  return parkedStatuses.has(status);
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
  /**
   * Which run of the task this is: 1 at first, one more each time a completed task is reopened by a steer
   * (a follow-up); absent in records of tasks never reopened.
   */
  followUpRound?: number;
  /** Steps taken before the current round began, so each round gets `delegation.max_iterations` of its own. */
  roundStartSteps?: number;
  /** The inbox's last message before the current round's follow-up: earlier ones were applied before. */
  roundInboxCursor?: string;
  /** The wait round (`prompt.round`) the task had reached when a follow-up reopened it; 0 for none. */
  followUpPromptRound?: number;
  /** The merge of that change into its workspace's branch, once someone merged it. */
  merge?: TaskMerge;
  /** The JSON Schema the final answer must match (`output_schema`); absent when the caller gave none. */
  outputSchema?: OutputSchema;
  /** How the final answer measured against `outputSchema`; absent without a schema or before completion. */
  structured?: StructuredResult;
  /** The last prompt the task parked on (a question or an approval request); absent if it never parked. */
  prompt?: TaskPromptState;
  /** The person's response to `prompt`, once given (or its time-out); absent while it waits. */
  promptResponse?: PromptResponse;
  /** Milliseconds spent parked, in total: not counted against delegation.child_timeout_s. */
  parkedMs?: number;
}

/**
 * What a parked task waits for. `round` numbers the task's waits (1, 2, …): the prompt's message, its resume
 * job and its answer are keyed by it, so a late answer to an earlier round never resumes a later one.
 */
export interface TaskPromptState {
  round: number;
  kind: 'question' | 'approval';
  /** The tool call that waits (ask_user, or the call needing approval). */
  callId: string;
  /** question: the child's question. approval: one line saying what waits for approval. */
  text: string;
  /** question: at most five choices (empty: words only). approval: empty. */
  choices: string[];
  /** approval: exactly what will run; arguments with secrets redacted. */
  action?: { tool: string; arguments: string; workspace?: string };
  askedAt: number;
  /** When it times out (epoch ms): a question's wait fails, an approval is denied. */
  expiresAt: number;
}

/** A person's answer or decision on a prompt, or its time-out. */
export interface PromptResponse {
  round: number;
  kind: 'question' | 'approval';
  /** question: the answer's text. */
  answer?: string;
  /** approval: the decision. */
  approved?: boolean;
  /** approval: why it was denied, when the person said. */
  reason?: string;
  /** Display name of who answered or decided (absent on a time-out). */
  by?: string;
  /** Their platform user id. */
  byId?: string;
  at: number;
  /** Nobody answered in time. */
  timedOut?: boolean;
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
  | 'prompt-asked'
  | 'answer-given'
  | 'approval-decided'
  | 'note';

export interface TaskEvent {
  id: string;
  type: TaskEventType;
  at: number;
  text: string;
}

/** The task's current round: 1 until a steer reopens it after it completed. */
export function roundOf(record: Pick<TaskRecord, 'followUpRound'>): number {
  return record.followUpRound ?? 1;
}
