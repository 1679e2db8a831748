import type { ConversationRef } from '../../src/gateway/chat-adapter.ts';
import {
  activeStatuses,
  isTerminal,
  roundOf,
  type TaskEvent,
  type TaskRecord,
  type TaskStatus,
} from '../../src/tasks/task-record.ts';
import type { TaskStore } from '../../src/tasks/task-store.ts';
import { activityText, elapsedSeconds, eventLine, shortGoal } from '../../src/tasks/task-views.ts';
import { oneLine } from '../../src/text/cut-text.ts';
import { scopeNames, type UsageLedger } from '../../src/usage/usage-ledger.ts';
import type { ConsoleStore } from './console-store.ts';

/** One task of the console's tree; `children` are the tasks it started. */
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
  /** The console thread's id when the session is a console thread. */
  consoleThreadId: string | null;
  /** The console thread's title; null for other platforms. */
  title: string | null;
  activeCount: number;
  tasks: TaskTreeNode[];
}

export interface TaskTreeSnapshot {
  /** Milliseconds since the epoch. */
  generatedAt: number;
  activeCount: number;
  /** Id of the newest task listed, so a cheap check can tell when a new one was dispatched. */
  newestTaskId: string | null;
  sessions: TaskTreeSession[];
}

/** How many tasks the tree shows, newest first, across every session. */
export const taskTreeLimit = 200;

/**
 * Groups records (newest first) by session and nests them by parent. Sessions with active tasks come
 * first, then by their newest task; top-level tasks are newest first, children in the order they started.
 */
export function buildTaskTree(
  records: TaskRecord[],
  lastEvents: ReadonlyMap<string, TaskEvent | null>,
  consoleTitles: ReadonlyMap<string, string>,
  costs: ReadonlyMap<string, number> | null = null,
): TaskTreeSnapshot {
  const nodes = new Map<string, TaskTreeNode>();
  for (const record of records) {
    const goal = shortGoal(record.goal, treeGoalChars);
    nodes.set(record.id, {
      id: record.id,
      goal,
      goalCut: oneLine(record.goal).length > treeGoalChars,
      status: record.status,
      elapsedSeconds: elapsedSeconds(record),
      steps: record.steps,
      ...(record.change ? { changedFiles: record.change.files } : {}),
      ...(roundOf(record) > 1 ? { round: roundOf(record) } : {}),
      lastActivity: lastLine(lastEvents.get(record.id)),
      lastEvent: lastPart(lastEvents.get(record.id), record.steps),
      tokens: record.usage.total_tokens,
      cost: costs ? (costs.get(record.id) ?? 0) : null,
      parentTaskId: record.parentTaskId,
      depth: record.depth,
      createdAt: record.createdAt,
      origin: {
        platform: record.origin.platform,
        channel: record.origin.channel,
        thread: record.origin.thread,
      },
      children: [],
    });
  }
  const sessions = new Map<string, TaskTreeSession>();
  for (const record of records) {
    const node = nodes.get(record.id)!;
    const parent = record.parentTaskId ? nodes.get(record.parentTaskId) : undefined;
    let session = sessions.get(record.sessionKey);
    if (!session) {
      const isConsole = record.origin.platform === 'console';
      session = {
        sessionKey: record.sessionKey,
        origin: node.origin,
        consoleThreadId: isConsole ? record.origin.thread : null,
        title: isConsole ? (consoleTitles.get(record.origin.thread) ?? null) : null,
        activeCount: 0,
        tasks: [],
      };
      sessions.set(record.sessionKey, session);
    }
    if (activeStatuses.has(record.status)) session.activeCount += 1;
    // Records come newest first: unshifting lists both levels in the order the tasks started, as boards do.
    if (parent) parent.children.unshift(node);
    else session.tasks.unshift(node);
  }
  const ordered = [...sessions.values()]
    .filter((session) => session.tasks.length > 0)
    .sort((left, right) => Number(right.activeCount > 0) - Number(left.activeCount > 0));
  return {
    generatedAt: Date.now(),
    activeCount: records.filter((record) => activeStatuses.has(record.status)).length,
    newestTaskId: records[0]?.id ?? null,
    sessions: ordered,
  };
}

function lastLine(event: TaskEvent | null | undefined): string {
  return event ? eventLine(event) : '';
}

function lastPart(event: TaskEvent | null | undefined, steps: number): TaskTreeNode['lastEvent'] {
  return event
    ? { type: event.type, text: event.text, at: event.at, activity: activityText(event, steps) }
    : null;
}

/** Characters of a goal the tree shows; the detail panel has the whole goal. */
const treeGoalChars = 160;
const dayMs = 24 * 3600 * 1000;

/** Reads the tree from the task store; remembers the last event of finished tasks, which no longer changes. */
export class TaskTreeReader {
  private readonly finishedActivity = new Map<string, TaskEvent | null>();
  private readonly finishedCost = new Map<string, number>();

  constructor(
    private readonly store: TaskStore,
    private readonly consoleStore: ConsoleStore,
    /** Where the cost per task is read; without it nodes carry `cost: null`. */
    private readonly usage: UsageLedger | null = null,
  ) {}

  /** Each task's cost over the UTC days it ran (at most 30, what the ledger keeps); finished ones once. */
  private async costs(records: TaskRecord[]): Promise<Map<string, number> | null> {
    const ledger = this.usage;
    if (!ledger) return null;
    const costs = new Map<string, number>();
    const now = Date.now();
    await Promise.all(
      records.map(async (record) => {
        const cached = this.finishedCost.get(record.id);
        if (cached !== undefined) {
          costs.set(record.id, cached);
          return;
        }
        const days = Math.min(30, Math.floor(now / dayMs) - Math.floor(record.createdAt / dayMs) + 1);
        const amounts = await ledger.total(scopeNames.task(record.id), Math.max(1, days), now);
        costs.set(record.id, amounts.cost);
        if (isTerminal(record.status)) this.finishedCost.set(record.id, amounts.cost);
      }),
    );
    for (const id of this.finishedCost.keys()) if (!costs.has(id)) this.finishedCost.delete(id);
    return costs;
  }

  async snapshot(): Promise<TaskTreeSnapshot> {
    const records = await this.store.listRecent(taskTreeLimit);
    const lastEvents = new Map<string, TaskEvent | null>();
    await Promise.all(
      records.map(async (record) => {
        const cached = this.finishedActivity.get(record.id);
        if (cached !== undefined && isTerminal(record.status)) {
          lastEvents.set(record.id, cached);
          return;
        }
        const [event] = await this.store.recentEvents(record.id, 1);
        lastEvents.set(record.id, event ?? null);
        if (isTerminal(record.status)) this.finishedActivity.set(record.id, event ?? null);
      }),
    );
    for (const id of this.finishedActivity.keys()) if (!lastEvents.has(id)) this.finishedActivity.delete(id);
    const consoleThreads = records
      .filter((record) => record.origin.platform === 'console')
      .map((record) => record.origin.thread);
    const [titles, costs] = await Promise.all([
      this.consoleStore.threadTitles([...new Set(consoleThreads)]),
      this.costs(records),
    ]);
    return buildTaskTree(records, lastEvents, titles, costs);
  }
}
