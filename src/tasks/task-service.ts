import type { BatonConfig } from '../config/schema.ts';
import { BatonError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { cutText } from '../text/cut-text.ts';
import { assertOutputSchema, type OutputSchema } from './output-schema.ts';
import { expired, notWaiting, resolveAnswer, responseEventChars } from './prompt-responses.ts';
import { ownerOnlyAuthorizer, type TaskAction, type TaskActor, type TaskAuthorizer } from './task-access.ts';
import type { TaskQueue } from './task-queue.ts';
import {
  type ChildRole,
  delegationToolsetName,
  isParked,
  isTerminal,
  type PromptResponse,
  roundOf,
  type TaskOrigin,
  type TaskRecord,
  type TaskStatus,
} from './task-record.ts';
import type { TaskSignals } from './task-signals.ts';
import type { TaskStore } from './task-store.ts';
import { statusWord } from './task-views.ts';
import { waitForTasksToEnd, waitForTasksToStop } from './task-waiter.ts';

/** On whose behalf a task operation runs: the parent agent of a session (depth 0) or a child task. */
export interface TaskCaller {
  sessionKey: string;
  origin: TaskOrigin;
  callerTaskId: string | null;
  depth: number;
  /** Who is named as the sender of steering messages. */
  displayName: string;
  /**
   * The person a depth-0 caller acts for: access to existing tasks is decided for them, and a depth-0
   * caller without one may not look at or control any. Children act as their task instead.
   */
  actor?: TaskActor;
}

/** One task of a listing; `restricted` when the caller may see only its status and timing. */
export interface ListedTask {
  record: TaskRecord;
  restricted: boolean;
}

export interface TaskSpecification {
  goal: string;
  context?: string;
  toolsets?: string[];
  route?: string;
  role?: ChildRole;
  /** JSON Schema the child's final answer must match; checked here, before anything runs. */
  output_schema?: OutputSchema;
  /** A configured workspace (workspaces.<name>) to work in. */
  workspace?: string;
}

/**
 * The toolsets a task may name (the runtime's ToolsetRegistry): passed in, so the task layer knows the
 * names but not the tools behind them.
 */
export interface ToolsetCatalog {
  names(): string[];
  /** Throws `unknown_toolset`, with the known names, for a name that is not registered. */
  validate(names: string[]): void;
}

/** The daily budgets checked before a task is admitted (the runtime's BudgetGuard). */
export interface AdmissionBudgets {
  /** Throws `budget_exhausted` when the person or channel of `origin` has spent a daily budget. */
  assertWithin(origin: TaskOrigin): Promise<void>;
}

export interface TaskServiceOptions {
  config: BatonConfig;
  store: TaskStore;
  queue: TaskQueue;
  signals: TaskSignals;
  toolsets: ToolsetCatalog;
  logger: Logger;
  /** Who may look at or control a task; the gateway passes its AccessPolicy. Default: the owner only. */
  authorizer?: TaskAuthorizer;
  /** Daily budgets checked before a task is admitted (quotas.daily_*). */
  budgets?: AdmissionBudgets;
}

/** The task operations behind the delegation tools and the chat commands, with every limit enforced. */
export class TaskService {
  readonly store: TaskStore;
  private readonly config: BatonConfig;
  private readonly queue: TaskQueue;
  private readonly signals: TaskSignals;
  private readonly toolsets: ToolsetCatalog;
  private readonly logger: Logger;
  private readonly authorizer: TaskAuthorizer;

  private readonly budgets: AdmissionBudgets | undefined;

  constructor(options: TaskServiceOptions) {
    this.authorizer = options.authorizer ?? ownerOnlyAuthorizer;
    this.budgets = options.budgets;
    this.config = options.config;
    this.store = options.store;
    this.queue = options.queue;
    this.signals = options.signals;
    this.toolsets = options.toolsets;
    this.logger = options.logger;
  }

  get limits() {
    const delegation = this.config.delegation;
    return {
      maxBatchSize: delegation.max_batch_size,
      maxActiveTasksPerConversation: delegation.max_concurrent_children,
      maxSpawnDepth: delegation.max_spawn_depth,
      toolsets: this.toolsets.names().filter((name) => name !== delegationToolsetName),
      routes: Object.keys(this.config.models.routes),
      workspaces: Object.keys(this.config.workspaces),
    };
  }

  /**
   * Validates a batch, admits it atomically against the session limit, then queues it. All or nothing.
   * With an `idempotencyKey` (the tool call id), a replay of the same call returns the same tasks.
   */
  async dispatch(
    caller: TaskCaller,
    specifications: TaskSpecification[],
    options: { idempotencyKey?: string } = {},
  ): Promise<TaskRecord[]> {
    const delegation = this.config.delegation;
    if (specifications.length === 0) throw new BatonError('invalid_arguments', 'give at least one task');
    if (specifications.length > delegation.max_batch_size) {
      throw new BatonError(
        'limit_batch_size',
        `at most ${delegation.max_batch_size} tasks per call (got ${specifications.length}); split the work`,
        { fault: 'model' },
      );
    }
    const childDepth = caller.depth + 1;
    if (childDepth > delegation.max_spawn_depth) {
      throw new BatonError(
        'limit_spawn_depth',
        `tasks may nest ${delegation.max_spawn_depth} level(s) deep; this task is at depth ${caller.depth} and cannot delegate`,
        { fault: 'model' },
      );
    }
    const tasks = specifications.map((specification) => {
      const role = specification.role ?? 'leaf';
      if (role === 'orchestrator' && childDepth >= delegation.max_spawn_depth) {
        throw new BatonError(
          'limit_spawn_depth',
          `an orchestrator at depth ${childDepth} could not delegate (delegation.max_spawn_depth is ` +
            `${delegation.max_spawn_depth}); use role "leaf"`,
          { fault: 'model' },
        );
      }
      const toolsets = specification.toolsets ?? delegation.default_toolsets;
      if (toolsets.includes(delegationToolsetName)) {
        throw new BatonError(
          'unknown_toolset',
          `the "${delegationToolsetName}" toolset comes with role "orchestrator"; do not list it`,
          { fault: 'model' },
        );
      }
      this.toolsets.validate(toolsets);
      const route = specification.route ?? delegation.default_route ?? this.config.models.default_route;
      if (!this.config.models.routes[route]) {
        throw new BatonError(
          'unknown_route',
          `unknown model route "${route}"; available: ${Object.keys(this.config.models.routes).join(', ')}`,
          { fault: 'model' },
        );
      }
      if (specification.output_schema !== undefined) assertOutputSchema(specification.output_schema);
      const workspace = specification.workspace;
      if (workspace !== undefined && !this.config.workspaces[workspace]) {
        const known = Object.keys(this.config.workspaces).join(', ') || 'none configured';
        throw new BatonError('unknown_workspace', `unknown workspace "${workspace}"; available: ${known}`, {
          fault: 'model',
        });
      }
      return {
        goal: specification.goal,
        context: specification.context ?? '',
        toolsets,
        route,
        role,
        ...(specification.output_schema ? { outputSchema: specification.output_schema } : {}),
        ...(workspace === undefined ? {} : { workspace }),
      };
    });
    await this.budgets?.assertWithin(caller.origin);
    const { records, replayed } = await this.store.admit({
      sessionKey: caller.sessionKey,
      origin: caller.origin,
      parent: caller.callerTaskId ? { taskId: caller.callerTaskId, depth: caller.depth } : null,
      tasks,
      maxActiveTasksPerConversation: delegation.max_concurrent_children,
      quotas: this.activeQuotas(),
      ...(options.idempotencyKey
        ? { idempotencyKey: `${caller.callerTaskId ?? caller.sessionKey}:${options.idempotencyKey}` }
        : {}),
    });
    // A replay re-queues what is still queued: the first attempt may have died between admit and enqueue.
    // Job ids are task ids, so a job that exists is not added twice.
    const toQueue = replayed ? records.filter((record) => record.status === 'queued') : records;
    try {
      await this.queue.enqueue(toQueue.map((record) => record.id));
    } catch (error) {
      // Nothing half-started: tasks that could not be queued end as failed and free their slots.
      await Promise.all(
        records.map((record) =>
          this.store.transition(record, 'failed', { error: `could not be queued: ${String(error)}` }),
        ),
      );
      throw new BatonError('redis_unavailable', 'the task queue is unavailable; nothing was started', {
        cause: error,
      });
    }
    return records;
  }

  /**
   * The task, if it belongs to the caller's session and the caller may do `action` to it: a child only to
   * the tasks it started (and theirs), the parent agent only what its turn's person may (the same decision
   * as the chat commands). An id of another conversation gets the same answer as an id that does not exist.
   */
  async lookup(caller: TaskCaller, taskId: string, action: TaskAction = 'check'): Promise<TaskRecord> {
    const record = await this.store.get(taskId.trim());
    if (!record || record.sessionKey !== caller.sessionKey) {
      throw new BatonError(
        'unknown_task',
        `no task with id "${taskId}" in this conversation; list_tasks shows this conversation's tasks`,
        { fault: 'user' },
      );
    }
    const refusal = await this.refusal(caller, record, action);
    if (refusal) throw new BatonError('access_denied', refusal, { fault: 'user' });
    return record;
  }

  /** Why the caller may not do `action` to a task of its session; null when it may. */
  private async refusal(
    caller: TaskCaller,
    record: TaskRecord,
    action: TaskAction,
    known?: ReadonlyMap<string, TaskRecord>,
  ): Promise<string | null> {
    if (caller.callerTaskId !== null) {
      return (await this.isDescendant(record, caller.callerTaskId, known))
        ? null
        : `task ${record.id} was not started by this task (${caller.callerTaskId}); a task may only ` +
            'look at or control the tasks it started';
    }
    if (!caller.actor) return `nobody to act for: ${record.id} can't be looked at or controlled here`;
    return this.authorizer.refusal(caller.actor, caller.origin, record, action);
  }

  /** Whether `record` was started by `ancestorId`, directly or through tasks it started. */
  private async isDescendant(
    record: TaskRecord,
    ancestorId: string,
    known?: ReadonlyMap<string, TaskRecord>,
  ): Promise<boolean> {
    let current: TaskRecord | null = record;
    // Depth only grows downwards, so the walk ends within max_spawn_depth steps; a listing passes the
    // session's records it read, so most steps need no read.
    while (current?.parentTaskId) {
      if (current.parentTaskId === ancestorId) return true;
      current = known?.get(current.parentTaskId) ?? (await this.store.get(current.parentTaskId));
    }
    return false;
  }

  /** Waits for tasks to end without blocking other work; see waitForTasksToEnd. */
  waitForEnd(taskIds: string[], timeoutMs: number, signal?: AbortSignal) {
    return waitForTasksToEnd(this.store, this.signals, taskIds, { timeoutMs, ...(signal ? { signal } : {}) });
  }

  /**
   * The session's tasks, newest first. A child sees only the tasks it started (and theirs); the parent
   * agent sees every task of its thread (they are on the thread's board), restricted to status and timing
   * where its turn's person may not look at the details.
   */
  async list(caller: TaskCaller, status?: TaskStatus): Promise<ListedTask[]> {
    const records = await this.store.listSession(caller.sessionKey, status === undefined ? {} : { status });
    const known = new Map(records.map((record) => [record.id, record]));
    const listed = await Promise.all(
      records.map(async (record) => ({
        record,
        refusal: await this.refusal(caller, record, 'check', known),
      })),
    );
    return listed
      .filter((entry) => caller.callerTaskId === null || entry.refusal === null)
      .map((entry) => ({ record: entry.record, restricted: entry.refusal !== null }));
  }

  /**
   * Queues a steering message. A completed task is reopened by it (a follow-up): it goes on from its own
   * conversation with the message, in a new round whose result is posted as a message of its own; `round`
   * says which. Failed, cancelled and timed-out tasks are refused. With an `idempotencyKey` (the tool call
   * id), a replay queues nothing new.
   */
  async steer(
    caller: TaskCaller,
    taskId: string,
    message: string,
    options: { idempotencyKey?: string } = {},
  ): Promise<{ record: TaskRecord; reopened: boolean; round: number }> {
    const record = await this.lookup(caller, taskId, 'steer');
    const scope = caller.callerTaskId ?? caller.sessionKey;
    const idempotencyKey = options.idempotencyKey ? `${scope}:${options.idempotencyKey}` : undefined;
    const result = await this.store.steer(record.id, caller.displayName, message, idempotencyKey);
    if (result.outcome === 'ok') return { record, reopened: false, round: roundOf(record) };
    if (result.status !== 'completed') throw notSteerable(record, result.status ?? null);
    // Another round spends as a new task would: the same daily budgets apply before it is queued.
    await this.budgets?.assertWithin(record.origin);
    const reopen = await this.store.reopen(
      record,
      caller.displayName,
      message,
      {
        maxActiveTasksPerConversation: this.config.delegation.max_concurrent_children,
        quotas: this.activeQuotas(),
      },
      idempotencyKey,
    );
    if (reopen.outcome === 'steered') return { record, reopened: false, round: roundOf(record) };
    if (reopen.outcome !== 'reopened') throw notSteerable(record, reopen.status);
    // Should this fail, the queue reconciler finds the queued round without a job and queues it.
    // The claim checks the wait round the job names (see claim-tasks.lua): the one the task last parked on.
    await this.queue.enqueue([
      {
        taskId: record.id,
        followUpRound: reopen.round,
        ...(record.prompt ? { promptRound: record.prompt.round } : {}),
      },
    ]);
    this.logger.info({ taskId: record.id, round: reopen.round }, 'completed task reopened by a steer');
    return {
      record: { ...record, status: 'queued', followUpRound: reopen.round },
      reopened: true,
      round: reopen.round,
    };
  }

  private activeQuotas() {
    return {
      perUser: this.config.quotas.max_active_tasks_per_user,
      perChannel: this.config.quotas.max_active_tasks_per_channel,
      total: this.config.quotas.max_active_tasks,
      queued: this.config.quotas.max_queued_tasks,
    };
  }

  /**
   * Answers the question a task waits on (ask_user): `text`, or `#n` for its n-th choice. Whoever may steer
   * the task may answer. The task goes back to the queue at once and the child continues with the answer
   * as the tool's result, naming who answered. A task not waiting for an answer (or a late answer) is
   * refused and nothing changes.
   */
  async answer(
    caller: TaskCaller,
    taskId: string,
    text: string,
  ): Promise<{ record: TaskRecord; answer: string }> {
    const record = await this.lookup(caller, taskId, 'steer');
    const prompt = record.prompt;
    if (record.status !== 'waiting_input' || !prompt || prompt.kind !== 'question') {
      throw notWaiting(record, 'an answer');
    }
    if (prompt.expiresAt <= Date.now()) throw expired(record);
    const answer = resolveAnswer(text, prompt.choices);
    const response: PromptResponse = {
      round: prompt.round,
      kind: 'question',
      answer,
      by: caller.displayName,
      ...(caller.actor ? { byId: caller.actor.id } : {}),
      at: Date.now(),
    };
    await this.settle(record, 'waiting_input', response, {
      type: 'answer-given',
      text: `by ${caller.displayName}: ${cutText(answer, responseEventChars, { marker: '' })}`,
    });
    return { record, answer };
  }

  /**
   * Approves or denies the tool call a task waits on (approvals). Only people decide: the caller must act
   * for a person (never a child), and approvals.approvers says which people. The decision (who, when,
   * which, why) goes to the task's events; approved, the call runs once; denied, the model gets the reason.
   */
  async decide(caller: TaskCaller, taskId: string, approved: boolean, reason?: string): Promise<TaskRecord> {
    const record = await this.store.get(taskId.trim());
    if (!record || record.sessionKey !== caller.sessionKey) {
      throw new BatonError('unknown_task', `no task with id "${taskId}" in this conversation`, {
        fault: 'user',
      });
    }
    if (caller.callerTaskId !== null || !caller.actor) {
      throw new BatonError('access_denied', `only a person can approve or deny ${record.id}`, {
        fault: 'user',
      });
    }
    const refusal = this.authorizer.approvalRefusal(
      caller.actor,
      caller.origin,
      record,
      this.config.approvals.approvers,
    );
    if (refusal) throw new BatonError('access_denied', refusal, { fault: 'user' });
    const prompt = record.prompt;
    if (record.status !== 'waiting_approval' || !prompt || prompt.kind !== 'approval') {
      throw notWaiting(record, 'a decision');
    }
    if (prompt.expiresAt <= Date.now()) throw expired(record);
    const trimmed = reason?.trim();
    const response: PromptResponse = {
      round: prompt.round,
      kind: 'approval',
      approved,
      ...(trimmed ? { reason: cutText(trimmed, 1000) } : {}),
      by: caller.displayName,
      byId: caller.actor.id,
      at: Date.now(),
    };
    const what = prompt.action?.tool ?? 'the call';
    await this.settle(record, 'waiting_approval', response, {
      type: 'approval-decided',
      text:
        `${what} ${approved ? 'approved' : 'denied'} by ${caller.displayName}` +
        (trimmed ? `: ${cutText(trimmed, responseEventChars, { marker: '' })}` : ''),
    });
    return record;
  }

  /** Records a response on the task's current prompt, then makes its resume job due now. */
  private async settle(
    record: TaskRecord,
    expected: 'waiting_input' | 'waiting_approval',
    response: PromptResponse,
    event: { type: 'answer-given' | 'approval-decided'; text: string },
  ): Promise<void> {
    const { outcome } = await this.store.settlePrompt(record, expected, response, event);
    if (outcome === 'missing') {
      throw new BatonError('unknown_task', `task ${record.id} no longer exists`, { fault: 'user' });
    }
    if (outcome !== 'ok') {
      // Refused (another response came first) or stale (the task waits on a later round now).
      const current = (await this.store.get(record.id)) ?? record;
      const what = expected === 'waiting_input' ? 'an answer' : 'a decision';
      throw notWaiting(current, what, outcome === 'stale');
    }
    // The response is recorded: should this fail, the job still comes due at the time-out, or the queue
    // reconciler adds it.
    await this.queue
      .resumeNow(record.id, response.round)
      .catch((error: unknown) =>
        this.logger.warn({ err: error, taskId: record.id }, 'resume job not promoted'),
      );
  }

  /** Waits for the task to end, up to `timeoutSeconds` (capped by delegation.collect_max_timeout_s). */
  async collect(
    caller: TaskCaller,
    taskId: string,
    timeoutSeconds: number | undefined,
    signal?: AbortSignal,
  ): Promise<{ record: TaskRecord; timedOut: boolean }> {
    const delegation = this.config.delegation;
    const record = await this.lookup(caller, taskId, 'collect');
    const seconds = Math.min(
      timeoutSeconds ?? delegation.collect_default_timeout_s,
      delegation.collect_max_timeout_s,
    );
    const waited = await this.waitForEnd([record.id], seconds * 1000, signal);
    return { record: waited.records[0] ?? record, timedOut: waited.timedOut };
  }

  /**
   * Cancels a task and every task it started, then waits until their workers have actually stopped them.
   * A finished task is refused with its status.
   */
  async cancel(caller: TaskCaller, taskId: string): Promise<{ record: TaskRecord; stopped: boolean }> {
    const record = await this.lookup(caller, taskId, 'cancel');
    if (isTerminal(record.status)) {
      throw new BatonError('task_finished', `task ${record.id} already ${record.status}; nothing to cancel`, {
        fault: 'user',
      });
    }
    const stopped = await this.cancelTree([record.id], `cancelled by ${caller.displayName}`);
    return { record: (await this.store.get(record.id)) ?? record, stopped };
  }

  /** Cancels tasks and their descendants; used by cancel and by a synchronous delegate_task whose caller stops. */
  async cancelTree(rootIds: string[], note: string): Promise<boolean> {
    const allIds = await this.descendantsWithRoots(rootIds);
    // The records name the session and quota sets the cancel script leaves (one pipelined read); a task
    // whose record is gone has nothing to cancel.
    const records = (await this.store.getMany(allIds)).filter((record) => record !== null);
    // Sent together, not one after another: Redis still runs them in this order (roots first).
    await Promise.all(
      records.map(async (record) => {
        const { outcome, previous } = await this.store.transition(record, 'cancelled', { note });
        if (outcome !== 'ok') return;
        // A queued or parked task has no runner to stop: its job (first, or the resume of its wait) goes.
        if (previous === 'queued' || (previous !== null && isParked(previous))) {
          await this.queue.removeWaiting(record);
        } else await this.signals.publish({ kind: 'cancel', taskId: record.id });
      }),
    );
    const stopped = await waitForTasksToStop(
      this.store,
      this.signals,
      allIds,
      this.config.delegation.cancel_wait_s * 1000,
    );
    if (!stopped) this.logger.warn({ taskIds: allIds }, 'cancelled tasks did not confirm stopping in time');
    return stopped;
  }

  /** The tasks and all their descendants, one level of the tree per round trip. */
  private async descendantsWithRoots(rootIds: string[]): Promise<string[]> {
    const seen = new Set<string>();
    let frontier = rootIds;
    while (frontier.length > 0) {
      const fresh = [...new Set(frontier)].filter((id) => !seen.has(id));
      for (const id of fresh) seen.add(id);
      frontier = (await Promise.all(fresh.map((id) => this.store.childrenOf(id)))).flat();
    }
    return [...seen];
  }
}

/** The refusal of a steer for a task that ended otherwise than completed (or is gone). */
function notSteerable(record: TaskRecord, status: TaskStatus | null): BatonError {
  return new BatonError(
    'task_not_steerable',
    `task ${record.id} is ${statusWord(status ?? record.status)}; only tasks that have not finished can be ` +
      'steered, and completed ones reopened with a follow-up (failed, cancelled and timed-out tasks cannot be)',
    { fault: 'user' },
  );
}
