import {
  activeStatuses,
  isTerminal,
  roundOf,
  type TaskEvent,
  type TaskRecord,
} from '../tasks/task-record.ts';
import type { TaskSignals } from '../tasks/task-signals.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import { activityText, durationSeconds, elapsedSeconds, eventLine, shortGoal } from '../tasks/task-views.ts';
import { oneLine } from '../text/cut-text.ts';
import { parseUnifiedDiff } from '../tools/workspace/parse-diff.ts';
import type { WorkspaceStore } from '../tools/workspace/workspace-store.ts';
import { tokensOf } from '../usage/usage-cost.ts';
import { scopeNames, type UsageLedger } from '../usage/usage-ledger.ts';
import { usageOverview } from '../usage/usage-report.ts';
import { taskIdPattern } from './chat-adapter.ts';
import {
  type ConsoleReads,
  type DiffFile,
  type TaskDetail,
  type TaskTreeNode,
  type TaskTreeSession,
  type TaskTreeSnapshot,
  taskTreeLimit,
} from './console-reads.ts';

export interface TaskReaderOptions {
  store: TaskStore;
  signals: TaskSignals;
  /** Recorded usage: each task's cost and the usage report; without it costs are null. */
  usage?: UsageLedger;
  /** Where a task's workspace diff is read; without it no task has one. */
  workspaces?: WorkspaceStore;
}

/** Events shown in a task's detail panel. */
const detailEventCount = 30;
/** Characters of a goal the tree shows; the detail panel has the whole goal. */
const treeGoalChars = 160;
const dayMs = 24 * 3600 * 1000;

/**
 * The console's reads over the task store, the signals, the usage ledger and the workspaces. Remembers the
 * last event and the cost of finished tasks, which no longer change, so a tree costs little to rebuild.
 */
export class TaskReader implements ConsoleReads {
  private readonly finishedActivity = new Map<string, TaskEvent | null>();
  private readonly finishedCost = new Map<string, number>();

  constructor(private readonly options: TaskReaderOptions) {}

  async taskTree(): Promise<TaskTreeSnapshot> {
    const { store } = this.options;
    const records = await store.listRecent(taskTreeLimit);
    const lastEvents = new Map<string, TaskEvent | null>();
    await Promise.all(
      records.map(async (record) => {
        const cached = this.finishedActivity.get(record.id);
        if (cached !== undefined && isTerminal(record.status)) {
          lastEvents.set(record.id, cached);
          return;
        }
        const [event] = await store.recentEvents(record.id, 1);
        lastEvents.set(record.id, event ?? null);
        if (isTerminal(record.status)) this.finishedActivity.set(record.id, event ?? null);
      }),
    );
    for (const id of this.finishedActivity.keys()) if (!lastEvents.has(id)) this.finishedActivity.delete(id);
    return buildTaskTree(records, lastEvents, await this.costs(records));
  }

  newestTaskId(): Promise<string | null> {
    return this.options.store.newestTaskId();
  }

  async taskDetail(taskId: string): Promise<TaskDetail | null> {
    const { store, usage } = this.options;
    const record = taskIdPattern.test(taskId) ? await store.get(taskId) : null;
    if (!record) return null;
    const [events, fullSummary, amounts] = await Promise.all([
      store.recentEvents(taskId, detailEventCount),
      isTerminal(record.status) ? store.fullSummary(taskId) : Promise.resolve(null),
      usage ? usage.total(scopeNames.task(taskId), 30) : Promise.resolve(null),
    ]);
    return {
      task: { ...record, elapsedSeconds: elapsedSeconds(record), durationSeconds: durationSeconds(record) },
      usage: amounts ? { ...amounts, tokens: tokensOf(amounts) } : null,
      events: events.map((event) => ({
        ...event,
        line: eventLine(event),
        activity: activityText(event, record.steps),
      })),
      summary: isTerminal(record.status) ? (fullSummary ?? record.summary) : null,
    };
  }

  async taskOrigin(taskId: string) {
    const record = taskIdPattern.test(taskId) ? await this.options.store.get(taskId) : null;
    if (!record) return null;
    const { platform, channel, thread } = record.origin;
    return { platform, channel, thread };
  }

  async usageOverview() {
    return this.options.usage ? usageOverview(this.options.usage) : null;
  }

  async taskDiff(taskId: string): Promise<DiffFile[] | null> {
    if (!taskIdPattern.test(taskId) || !this.options.workspaces) return null;
    const diff = await this.options.workspaces.diff(taskId);
    return diff === null ? null : parseUnifiedDiff(diff);
  }

  onTaskChange(listener: () => void): () => void {
    return this.options.signals.onAny(() => listener());
  }

  /** Each task's cost over the UTC days it ran (at most 30, what the ledger keeps); finished ones once. */
  private async costs(records: TaskRecord[]): Promise<Map<string, number> | null> {
    const ledger = this.options.usage;
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
}

/**
 * Groups records (newest first) by session and nests them by parent. Sessions with active tasks come
 * first, then by their newest task; top-level tasks are listed in the order they started, children too.
 */
export function buildTaskTree(
  records: TaskRecord[],
  lastEvents: ReadonlyMap<string, TaskEvent | null>,
  costs: ReadonlyMap<string, number> | null = null,
): TaskTreeSnapshot {
  const nodes = new Map<string, TaskTreeNode>();
  for (const record of records) {
    const lastEvent = lastEvents.get(record.id) ?? null;
    nodes.set(record.id, {
      id: record.id,
      goal: shortGoal(record.goal, treeGoalChars),
      goalCut: oneLine(record.goal).length > treeGoalChars,
      status: record.status,
      elapsedSeconds: elapsedSeconds(record),
      steps: record.steps,
      ...(record.change ? { changedFiles: record.change.files } : {}),
      ...(roundOf(record) > 1 ? { round: roundOf(record) } : {}),
      lastActivity: lastEvent ? eventLine(lastEvent) : '',
      lastEvent: lastEvent
        ? {
            type: lastEvent.type,
            text: lastEvent.text,
            at: lastEvent.at,
            activity: activityText(lastEvent, record.steps),
          }
        : null,
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
      session = { sessionKey: record.sessionKey, origin: node.origin, activeCount: 0, tasks: [] };
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
