import type { Redis } from 'ioredis';
import { BatonError } from '../errors.ts';
import { emptyUsage, type TokenUsage } from '../llm/model-client.ts';
import { defaultRetentionSeconds, taskKeySeconds } from '../redis/key-lifetimes.ts';
import type { LuaScript } from '../redis/lua-script.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';
import { TickBatcher } from '../redis/tick-batcher.ts';
import type { UsageWrite } from '../redis/usage-write.ts';
import { toWellFormed, wellFormedDeep } from '../well-formed-text.ts';
import { parseTaskCheckpoint, serializeTaskCheckpoint, type TaskCheckpoint } from './task-checkpoint.ts';
import { TaskEvents } from './task-events.ts';
import { newTaskId } from './task-ids.ts';
import { steerEventLine, TaskInbox } from './task-inbox.ts';
import {
  legalTransitions,
  type NewTask,
  type PromptResponse,
  type StructuredResult,
  type TaskEventType,
  type TaskMerge,
  type TaskOrigin,
  type TaskPromptState,
  type TaskRecord,
  type TaskStatus,
  type TaskWorkspaceChange,
  taskStatuses,
} from './task-record.ts';
import {
  admitTasksScript,
  checkpointScript,
  claimScript,
  completeScript,
  parkScript,
  releaseScript,
  reopenScript,
  settlePromptScript,
  transitionScript,
} from './task-scripts.ts';
import { fieldsToRecord, recordToFields } from './task-serialization.ts';

export interface AdmitRequest {
  sessionKey: string;
  origin: TaskOrigin;
  parent: { taskId: string; depth: number } | null;
  tasks: NewTask[];
  /** Queued + running tasks the session (conversation) may hold, these included (delegation.max_concurrent_children). */
  maxActiveTasksPerConversation: number;
  /** Limits across sessions (quotas.*); null = no limit. */
  quotas?: ActiveTaskQuotas;
  /** Makes a replayed dispatch return the first one's tasks; see lua/admit-tasks.lua. */
  idempotencyKey?: string;
}

/** Most active (queued or running) tasks per person, per channel, overall, and most queued overall. */
export interface ActiveTaskQuotas {
  perUser: number | null;
  perChannel: number | null;
  total: number | null;
  queued: number | null;
}

/** What a script that ends a task needs of its record to name every key it touches (see complete). */
export type TaskRef = Pick<TaskRecord, 'id' | 'sessionKey' | 'origin'>;

export type WriteOutcome = 'ok' | 'refused' | 'lost' | 'missing' | 'pending_steer';

export interface TaskStoreOptions {
  redis: Redis;
  keys: RedisKeys;
  maxEventsPerTask: number;
  /** How long a finished task's record, events and summary are kept, in seconds (default 30 days). */
  retentionSeconds?: number;
}

type ScriptReply = [string, string?, string?];

/** What a successful claim hands the runner, so it starts without reading the task again. */
export interface ClaimedTask {
  outcome: 'ok';
  /** Status before the claim: 'queued' for a first run (no checkpoint can exist), 'running' for a takeover. */
  previous: 'queued' | 'running';
  /** True when another runner had it before (a crash or restart). */
  resumed: boolean;
  /** The task as it is after the claim. */
  record: TaskRecord;
  /** Steering messages in the inbox when it was claimed (read or not); 0 means none was ever sent. */
  inboxLength: number;
  /** True when the claim also recorded the `step-start` event of the first step. */
  firstStepRecorded: boolean;
}

export type ClaimResult =
  | ClaimedTask
  | {
      outcome: 'finished' | 'missing' | 'parked' | 'stale';
      previous: TaskStatus | null;
      resumed: false;
      record: null;
    };

/** How parking went (see lua/park-task.lua); `detail` is the parked count, or the status found. */
export type ParkOutcome = 'ok' | 'over_parked' | 'refused' | 'lost' | 'missing';

/** How settling a prompt went (see lua/settle-prompt.lua). */
export type SettleOutcome = 'ok' | 'refused' | 'stale' | 'missing';

/** A claim waiting for its turn's batch: its task's keys and its part of the packed argument (lua/claim-tasks.lua). */
interface PendingClaim {
  keys: string[];
  request: Record<string, string>;
}

/** One task's reply of lua/claim-tasks.lua: outcome, status found, then, when claimed, what the runner needs. */
type ClaimReply = [string, string?, string?, number?, string?, string?];

/** A completion waiting for its turn's batch: its keys and its part of the packed argument (lua/complete-tasks.lua). */
interface PendingCompletion {
  keys: string[];
  request: Record<string, string | string[]>;
}

/**
 * The most tasks one claim or completion script takes: a script blocks Redis while it runs (tens of µs per
 * task), so a burst is cut into runs of a few milliseconds at most.
 */
const maxTasksPerScript = 50;

/**
 * Task records, atomic status changes and checkpoints, all in Redis; the steering inbox (task-inbox.ts)
 * and the event streams (task-events.ts) are reached through it too.
 */
export class TaskStore {
  readonly keys: RedisKeys;
  private readonly redis: Redis;
  private readonly maxEvents: number;
  readonly retentionSeconds: number;
  private readonly scripts: RedisScriptRunner;
  private readonly inbox: TaskInbox;
  private readonly events: TaskEvents;
  private readonly claims = new TickBatcher<PendingClaim, ClaimReply>(
    (claims) => this.claimBatch(claims),
    maxTasksPerScript,
  );
  private readonly completions = new TickBatcher<PendingCompletion, WriteOutcome>(
    (completions) => this.completeBatch(completions),
    maxTasksPerScript,
  );

  constructor(options: TaskStoreOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.maxEvents = options.maxEventsPerTask;
    this.retentionSeconds = options.retentionSeconds ?? defaultRetentionSeconds;
    this.scripts = new RedisScriptRunner(options.redis);
    this.inbox = new TaskInbox(
      options.redis,
      options.keys,
      this.scripts,
      this.maxEvents,
      this.retentionSeconds,
    );
    this.events = new TaskEvents(options.redis, options.keys, this.maxEvents);
  }

  private run<Reply = ScriptReply>(
    script: LuaScript,
    keys: string[],
    args: (string | number)[],
  ): Promise<Reply> {
    return this.scripts.run<Reply>(script, keys, args);
  }

  /**
   * Creates all tasks of a batch, or none when a limit refuses them. `replayed` is true when the
   * idempotency key had been used: the records are those of the first dispatch.
   */
  async admit(request: AdmitRequest): Promise<{ records: TaskRecord[]; replayed: boolean }> {
    const now = Date.now();
    // The records travel as JSON into a Lua script, whose decoder refuses a lone surrogate.
    const origin = wellFormedDeep(request.origin);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const records: TaskRecord[] = request.tasks.map((task) => ({
        id: newTaskId(),
        sessionKey: request.sessionKey,
        origin,
        parentTaskId: request.parent?.taskId ?? null,
        depth: (request.parent?.depth ?? 0) + 1,
        role: task.role,
        goal: toWellFormed(task.goal),
        context: toWellFormed(task.context),
        toolsets: task.toolsets,
        route: task.route,
        status: 'queued',
        createdAt: now,
        startedAt: null,
        endedAt: null,
        steps: 0,
        usage: emptyUsage(),
        summary: null,
        error: null,
        attempts: 0,
        ...(task.outputSchema ? { outputSchema: task.outputSchema } : {}),
        ...(task.workspace ? { workspace: task.workspace } : {}),
      }));
      const parentId = request.parent?.taskId;
      const { platform, user, channel } = origin;
      const [outcome, detail] = await this.run(
        admitTasksScript,
        [
          this.keys.sessionActive(request.sessionKey),
          this.keys.sessionTasks(request.sessionKey),
          parentId ? this.keys.task(parentId) : '',
          parentId ? this.keys.taskChildren(parentId) : '',
          request.idempotencyKey ? this.keys.dispatchRecord(request.idempotencyKey) : '',
          this.keys.channelTasks(platform, channel),
          this.keys.allTasks(),
          this.keys.quotaUserActive(platform, user),
          this.keys.quotaChannelActive(platform, channel),
          this.keys.quotaActive(),
          this.keys.quotaQueued(),
          ...records.map((record) => this.keys.task(record.id)),
          ...records.map((record) => this.keys.taskEvents(record.id)),
        ],
        [
          // One packed argument (see lua/admit-tasks.lua); numbers Lua must print back go as strings.
          JSON.stringify({
            maxActive: request.maxActiveTasksPerConversation,
            now: String(now),
            // How long a dispatch is remembered for replays (a crashed step is redone well within this).
            idempotencySeconds: taskKeySeconds('dispatchRecord', this.retentionSeconds),
            maxEvents: this.maxEvents,
            channel: this.keys.signalChannel(),
            sessionKey: request.sessionKey,
            quotas: {
              user: request.quotas?.perUser ?? 0,
              channel: request.quotas?.perChannel ?? 0,
              total: request.quotas?.total ?? 0,
              queued: request.quotas?.queued ?? 0,
            },
            records: records.map((record) => recordToFields(record)),
            ids: records.map((record) => record.id),
          }),
        ],
      );
      if (outcome === 'ok') return { records, replayed: false };
      if (outcome === 'existing') {
        const ids = JSON.parse(detail!) as string[];
        const existing = (await this.getMany(ids)).filter((record): record is TaskRecord => record !== null);
        return { records: existing, replayed: true };
      }
      if (outcome === 'over_limit') {
        throw new BatonError(
          'limit_concurrent_children',
          `this conversation already has ${detail} active task(s); at most ${request.maxActiveTasksPerConversation} may be ` +
            `queued or running at once (asked for ${records.length} more). Wait for one to finish or cancel one.`,
          { fault: 'user' },
        );
      }
      if (outcome?.startsWith('over_')) throw quotaRefusal(outcome, Number(detail), request, records.length);
      if (outcome === 'parent_not_running') {
        throw new BatonError('task_finished', `the calling task is ${detail}; it cannot start new tasks`, {
          fault: 'user',
        });
      }
      // 'id_taken': a random id collided; draw new ones.
    }
    throw new BatonError('unknown_task', 'could not allocate a unique task id');
  }

  async get(taskId: string): Promise<TaskRecord | null> {
    return fieldsToRecord(await this.redis.hgetall(this.keys.task(taskId)));
  }

  async getMany(taskIds: string[]): Promise<(TaskRecord | null)[]> {
    if (taskIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const taskId of taskIds) pipeline.hgetall(this.keys.task(taskId));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, hash]) => (error ? null : fieldsToRecord(hash as Record<string, string>)));
  }

  /** Whether a worker still holds the task (its processor has not returned). */
  async isHeldByRunner(taskId: string): Promise<boolean> {
    const token = await this.redis.hget(this.keys.task(taskId), 'runnerToken');
    return token !== null && token !== '';
  }

  /** Tasks of a session, newest first. */
  async listSession(
    sessionKey: string,
    options: { status?: TaskStatus; limit?: number } = {},
  ): Promise<TaskRecord[]> {
    const records = await this.readIndex(this.keys.sessionTasks(sessionKey), options.limit ?? 200);
    return options.status ? records.filter((record) => record.status === options.status) : records;
  }

  /** The most recent tasks of every session, newest first (the console's tree). */
  async listRecent(limit = 200): Promise<TaskRecord[]> {
    return this.readIndex(this.keys.allTasks(), limit);
  }

  /** Id of the newest task of every session, without reading any record (a cheap "anything new?" check). */
  async newestTaskId(): Promise<string | null> {
    const [newest] = await this.redis.zrevrange(this.keys.allTasks(), 0, 0);
    return newest ?? null;
  }

  /** Tasks started from any thread of a channel, newest first. */
  async listChannel(platform: string, channel: string, limit = 100): Promise<TaskRecord[]> {
    return this.readIndex(this.keys.channelTasks(platform, channel), limit);
  }

  /**
   * The newest tasks of an index. Ids whose records have expired (past the retention period) are
   * dropped from the index as they are met, so indexes shrink as the tasks they list expire.
   */
  /**
   * How many of the newest `limit` tasks are in each status, reading only their status field (for
   * /metrics: a scrape must stay cheap however large the task records are).
   */
  async countRecentByStatus(limit: number): Promise<Partial<Record<TaskStatus, number>>> {
    const ids = await this.redis.zrevrange(this.keys.allTasks(), 0, limit - 1);
    if (ids.length === 0) return {};
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.keys.task(id), 'status');
    const counts: Partial<Record<TaskStatus, number>> = {};
    for (const [error, status] of (await pipeline.exec()) ?? []) {
      if (error || typeof status !== 'string') continue;
      counts[status as TaskStatus] = (counts[status as TaskStatus] ?? 0) + 1;
    }
    return counts;
  }

  private async readIndex(indexKey: string, limit: number): Promise<TaskRecord[]> {
    const ids = await this.redis.zrevrange(indexKey, 0, limit - 1);
    const found = await this.getMany(ids);
    const expired = ids.filter((_id, index) => found[index] === null);
    if (expired.length > 0) await this.redis.zrem(indexKey, ...expired);
    return found.filter((record): record is TaskRecord => record !== null);
  }

  async activeCount(sessionKey: string): Promise<number> {
    return this.redis.scard(this.keys.sessionActive(sessionKey));
  }

  async childrenOf(taskId: string): Promise<string[]> {
    return this.redis.smembers(this.keys.taskChildren(taskId));
  }

  /**
   * Moves a task to `to` when the move is legal from its current status (and, with `runnerToken`, only
   * while that runner owns it). Returns the outcome and the status found before the move. With
   * `runnerToken` and `release`, the runner also lets go of the task in the same script, whether the move
   * is made or refused (a cancel got there first); `released` says whether it did, and when it did no
   * separate `release` is needed. `task` is the record (or its id, session and origin), so that every key
   * the script touches is named by the caller.
   */
  async transition(
    task: TaskRef,
    to: TaskStatus,
    options: {
      error?: string;
      /** What the task had done when it ended early (budget_exhausted), for its result. */
      summary?: string;
      note?: string;
      runnerToken?: string;
      from?: TaskStatus[];
      release?: boolean;
    } = {},
  ): Promise<{ outcome: WriteOutcome; previous: TaskStatus | null; released: boolean }> {
    const allowedFrom = (options.from ?? taskStatuses)
      .filter((status) => legalTransitions[status].includes(to))
      .join(',');
    const fields: string[] = options.error === undefined ? [] : ['error', options.error];
    if (options.summary !== undefined) fields.push('summary', options.summary);
    const taskId = task.id;
    const { platform, user, channel } = task.origin;
    const [outcome, previous, released] = await this.run(
      transitionScript,
      [
        this.keys.task(taskId),
        this.keys.taskEvents(taskId),
        this.keys.taskEndings(),
        this.keys.taskCheckpoint(taskId),
        this.keys.taskInbox(taskId),
        this.keys.taskChildren(taskId),
        this.keys.taskExpirySchedule(),
        this.keys.sessionActive(task.sessionKey),
        this.keys.quotaUserActive(platform, user),
        this.keys.quotaChannelActive(platform, channel),
        this.keys.quotaActive(),
        this.keys.quotaQueued(),
        this.keys.sessionParked(task.sessionKey),
      ],
      [
        allowedFrom,
        to,
        Date.now(),
        this.maxEvents,
        options.note ? `: ${options.note}` : '',
        this.keys.signalChannel(),
        options.runnerToken ?? '',
        options.release ? '1' : '',
        this.retentionSeconds,
        ...fields,
      ],
    );
    return {
      outcome: outcome as WriteOutcome,
      previous: (previous as TaskStatus | undefined) ?? null,
      released: released === '1',
    };
  }

  /**
   * A worker takes the task. On success the reply carries the record after the claim and the inbox
   * length, so the runner needs no other read before its first step. With `firstStepEvent`, a task
   * claimed from 'queued' with an empty inbox also gets that `step-start` event (see lua/claim-tasks.lua).
   */
  async claim(
    taskId: string,
    runnerToken: string,
    options: { firstStepEvent?: string; round?: number } = {},
  ): Promise<ClaimResult> {
    const [outcome, previous, previousRunner, inboxLength, hash, firstStep] = await this.claims.add({
      keys: [this.keys.task(taskId), this.keys.taskEvents(taskId), this.keys.taskInbox(taskId)],
      request: {
        runnerToken,
        now: String(Date.now()),
        maxEvents: String(this.maxEvents),
        firstStep: options.firstStepEvent ?? '',
        round: options.round === undefined ? '' : String(options.round),
      },
    });
    if (outcome !== 'ok') {
      return {
        outcome: outcome as 'finished' | 'missing' | 'parked' | 'stale',
        previous: (previous as TaskStatus | undefined) ?? null,
        resumed: false,
        record: null,
      };
    }
    const claimedFrom = previous as 'queued' | 'running';
    return {
      outcome: 'ok',
      previous: claimedFrom,
      resumed: claimedFrom === 'running' || (previousRunner ?? '') !== '',
      record: fieldsToRecord(JSON.parse(hash ?? '{}') as Record<string, string>)!,
      inboxLength: Number(inboxLength ?? 0),
      firstStepRecorded: firstStep === '1',
    };
  }

  /** Runs the claims gathered in one turn of the event loop as one script (see TickBatcher). */
  private claimBatch(claims: PendingClaim[]): Promise<ClaimReply[]> {
    return this.run<ClaimReply[]>(
      claimScript,
      [...claims.flatMap((claim) => claim.keys), this.keys.quotaQueued()],
      [JSON.stringify(claims.map((claim) => claim.request))],
    );
  }

  /**
   * Saves the conversation while `runnerToken` holds the task. `modelCall` (the usage of the call that led
   * here) is counted in the same script, whatever the outcome.
   */
  async saveCheckpoint(
    taskId: string,
    runnerToken: string,
    checkpoint: TaskCheckpoint,
    modelCall: UsageWrite | null = null,
  ): Promise<WriteOutcome> {
    const [outcome] = await this.run(
      checkpointScript,
      [this.keys.task(taskId), this.keys.taskCheckpoint(taskId), ...(modelCall?.keys ?? [])],
      [
        runnerToken,
        serializeTaskCheckpoint(checkpoint),
        checkpoint.steps,
        JSON.stringify(checkpoint.usage),
        ...(modelCall?.args ?? []),
      ],
    );
    return outcome as WriteOutcome;
  }

  /** The task's checkpoint, of any version this code reads; throws `checkpoint_invalid` (see parseTaskCheckpoint). */
  async loadCheckpoint(taskId: string): Promise<TaskCheckpoint | null> {
    const raw = await this.redis.get(this.keys.taskCheckpoint(taskId));
    return raw ? parseTaskCheckpoint(raw) : null;
  }

  /**
   * Completes a running task and releases it (no `release` needed after 'ok'); refused with
   * 'pending_steer' when a steer arrived after `inboxCursor`. `modelCall` (the usage of the call that gave
   * the answer) is counted in the same script, whatever the outcome.
   */
  async complete(
    task: TaskRef,
    runnerToken: string,
    result: {
      inboxCursor: string;
      summary: string;
      fullText: string;
      steps: number;
      usage: TokenUsage;
      /** The answer checked against the task's output_schema; only for tasks that have one. */
      structured?: StructuredResult;
    },
    modelCall: UsageWrite | null = null,
  ): Promise<WriteOutcome> {
    const taskId = task.id;
    const { platform, user, channel } = task.origin;
    return this.completions.add({
      keys: [
        this.keys.task(taskId),
        this.keys.taskEvents(taskId),
        this.keys.taskInbox(taskId),
        this.keys.taskSummary(taskId),
        this.keys.taskEndings(),
        this.keys.taskCheckpoint(taskId),
        this.keys.taskChildren(taskId),
        this.keys.taskExpirySchedule(),
        this.keys.sessionActive(task.sessionKey),
        this.keys.quotaUserActive(platform, user),
        this.keys.quotaChannelActive(platform, channel),
        this.keys.quotaActive(),
        ...(modelCall?.keys ?? []),
      ],
      // Every value a string (see lua/complete-tasks.lua). Lua's JSON decoder refuses a lone surrogate; as a
      // raw argument it was stored as U+FFFD anyway, which toWellFormed gives too.
      request: {
        runnerToken,
        inboxCursor: result.inboxCursor,
        now: String(Date.now()),
        maxEvents: String(this.maxEvents),
        channel: this.keys.signalChannel(),
        summary: toWellFormed(result.summary),
        fullText: toWellFormed(result.fullText),
        steps: String(result.steps),
        usage: JSON.stringify(result.usage),
        retentionSeconds: String(this.retentionSeconds),
        usageKeys: String(modelCall?.keys.length ?? 0),
        ...(modelCall ? { usageArgs: modelCall.args } : {}),
        ...(result.structured ? { structured: JSON.stringify(wellFormedDeep(result.structured)) } : {}),
      },
    });
  }

  /** Runs the completions gathered in one turn of the event loop as one script (see TickBatcher). */
  private async completeBatch(completions: PendingCompletion[]): Promise<WriteOutcome[]> {
    const replies = await this.run<Array<[string, string]>>(
      completeScript,
      completions.flatMap((completion) => completion.keys),
      [JSON.stringify(completions.map((completion) => completion.request))],
    );
    return replies.map(([outcome]) => outcome as WriteOutcome);
  }

  /**
   * What a completed child changed in its workspace, kept on its record for boards and the console. Written
   * by the running child just before it completes; a task whose record is gone gets nothing.
   */
  async recordWorkspaceChange(taskId: string, change: TaskWorkspaceChange): Promise<void> {
    const key = this.keys.task(taskId);
    // Only on an existing record: HSET alone would create a bare hash for an expired task.
    if ((await this.redis.exists(key)) === 1) await this.redis.hset(key, 'change', JSON.stringify(change));
  }

  /** A merge of the task's change into its workspace's branch, kept on its record for check_task and status. */
  async recordMerge(taskId: string, merge: TaskMerge): Promise<void> {
    const key = this.keys.task(taskId);
    if ((await this.redis.exists(key)) === 1) await this.redis.hset(key, 'merge', JSON.stringify(merge));
  }

  /** The child's whole final answer; null until it completed. */
  async fullSummary(taskId: string): Promise<string | null> {
    // Stored apart only when the summary had to be cut; otherwise the summary is the full text.
    const replies =
      (await this.redis
        .pipeline()
        .get(this.keys.taskSummary(taskId))
        .hmget(this.keys.task(taskId), 'status', 'summary')
        .exec()) ?? [];
    for (const [error] of replies) if (error) throw error;
    const full = replies[0]?.[1];
    if (typeof full === 'string') return full;
    const [status, summary] = (replies[1]?.[1] ?? []) as (string | null)[];
    return status === 'completed' && summary ? summary : null;
  }

  /**
   * Parks the running task this runner holds on `prompt`: it becomes `status` and the runner lets go of it
   * (no release needed after 'ok'). Refused with 'over_parked' when the session already has `maxParked`
   * parked tasks.
   */
  async park(
    task: TaskRef,
    runnerToken: string,
    status: 'waiting_input' | 'waiting_approval',
    prompt: TaskPromptState,
    maxParked: number,
    eventText: string,
  ): Promise<{ outcome: ParkOutcome; detail: string | null }> {
    const { platform, user, channel } = task.origin;
    const [outcome, detail] = await this.run(
      parkScript,
      [
        this.keys.task(task.id),
        this.keys.taskEvents(task.id),
        this.keys.taskEndings(),
        this.keys.sessionActive(task.sessionKey),
        this.keys.sessionParked(task.sessionKey),
        this.keys.quotaUserActive(platform, user),
        this.keys.quotaChannelActive(platform, channel),
        this.keys.quotaActive(),
      ],
      [
        JSON.stringify({
          runnerToken,
          status,
          round: String(prompt.round),
          prompt: JSON.stringify(wellFormedDeep(prompt)),
          maxParked: String(maxParked),
          now: String(Date.now()),
          maxEvents: String(this.maxEvents),
          channel: this.keys.signalChannel(),
          eventText: toWellFormed(eventText),
        }),
      ],
    );
    return { outcome: outcome as ParkOutcome, detail: detail ?? null };
  }

  /**
   * Settles the prompt of `response.round` of a parked task (an answer, a decision or a time-out): the
   * task goes back to the queue with the response on its record, and the settlement goes to the endings
   * stream (a gateway edits the posted prompt to show it). `expected` is the waiting status the response
   * fits (null: either, for a time-out).
   */
  async settlePrompt(
    task: TaskRef,
    expected: 'waiting_input' | 'waiting_approval' | null,
    response: PromptResponse,
    event: { type: TaskEventType; text: string },
  ): Promise<{ outcome: SettleOutcome; detail: string | null }> {
    const { platform, user, channel } = task.origin;
    const [outcome, detail] = await this.run(
      settlePromptScript,
      [
        this.keys.task(task.id),
        this.keys.taskEvents(task.id),
        this.keys.sessionActive(task.sessionKey),
        this.keys.sessionParked(task.sessionKey),
        this.keys.quotaUserActive(platform, user),
        this.keys.quotaChannelActive(platform, channel),
        this.keys.quotaActive(),
        this.keys.quotaQueued(),
        this.keys.taskEndings(),
      ],
      [
        JSON.stringify({
          round: String(response.round),
          status: expected ?? '',
          response: JSON.stringify(wellFormedDeep(response)),
          now: String(response.at),
          maxEvents: String(this.maxEvents),
          channel: this.keys.signalChannel(),
          eventType: event.type,
          eventText: toWellFormed(event.text),
        }),
      ],
    );
    return { outcome: outcome as SettleOutcome, detail: detail ?? null };
  }

  /** How many tasks of the session are parked. */
  async parkedCount(sessionKey: string): Promise<number> {
    return this.redis.scard(this.keys.sessionParked(sessionKey));
  }

  /** Marks that this runner has stopped holding the task (its processor returned) and says so. */
  async release(taskId: string, runnerToken: string): Promise<void> {
    await this.run(
      releaseScript,
      [this.keys.task(taskId)],
      [runnerToken, Date.now(), this.keys.signalChannel()],
    );
  }

  /** Queues a steering message; refused when the task has finished. */
  steer(taskId: string, from: string, text: string, idempotencyKey?: string) {
    return this.inbox.steer(taskId, toWellFormed(from), toWellFormed(text), idempotencyKey);
  }

  /**
   * A steer for a completed task: queues the message and reopens the task for another round (see
   * lua/reopen-task.lua), within the same limits as a dispatch. 'steered' when the task was queued or running
   * again by then (a racing reopen won): the message is queued for that round. Throws the limit's error.
   */
  async reopen(
    task: TaskRef,
    from: string,
    text: string,
    limits: { maxActiveTasksPerConversation: number; quotas?: ActiveTaskQuotas },
    idempotencyKey?: string,
  ): Promise<
    | { outcome: 'reopened'; messageId: string; round: number }
    | { outcome: 'steered'; messageId: string }
    | { outcome: 'refused' | 'missing'; status: TaskStatus | null }
  > {
    const { platform, user, channel } = task.origin;
    const sender = toWellFormed(from);
    const message = toWellFormed(text);
    const [outcome, detail, round] = await this.run(
      reopenScript,
      [
        this.keys.task(task.id),
        this.keys.taskInbox(task.id),
        this.keys.taskEvents(task.id),
        idempotencyKey ? this.keys.steerRecord(idempotencyKey) : '',
        this.keys.taskCheckpoint(task.id),
        this.keys.taskChildren(task.id),
        this.keys.sessionActive(task.sessionKey),
        this.keys.quotaUserActive(platform, user),
        this.keys.quotaChannelActive(platform, channel),
        this.keys.quotaActive(),
        this.keys.quotaQueued(),
      ],
      [
        JSON.stringify({
          from: sender,
          text: message,
          now: String(Date.now()),
          maxEvents: this.maxEvents,
          channel: this.keys.signalChannel(),
          idempotencySeconds: taskKeySeconds('steerRecord', this.retentionSeconds),
          eventLine: steerEventLine(sender, message),
          maxActive: limits.maxActiveTasksPerConversation,
          quotas: {
            user: limits.quotas?.perUser ?? 0,
            channel: limits.quotas?.perChannel ?? 0,
            total: limits.quotas?.total ?? 0,
            queued: limits.quotas?.queued ?? 0,
          },
        }),
      ],
    );
    if (outcome === 'reopened') return { outcome, messageId: detail!, round: Number(round) };
    if (outcome === 'steered') return { outcome, messageId: detail! };
    if (outcome === 'over_limit') {
      throw new BatonError(
        'limit_concurrent_children',
        `this conversation already has ${detail} active task(s); at most ${limits.maxActiveTasksPerConversation} ` +
          `may be queued or running at once, so ${task.id} cannot be reopened now. Wait for one to finish or cancel one.`,
        { fault: 'user' },
      );
    }
    if (outcome?.startsWith('over_')) {
      throw quotaRefusal(outcome, Number(detail), { origin: task.origin, quotas: limits.quotas }, 1);
    }
    return { outcome: outcome as 'refused' | 'missing', status: (detail as TaskStatus | undefined) ?? null };
  }

  /**
   * The last answer the task completed with (its full text), whatever its status now: what a reopened round
   * puts back in the conversation before the follow-up. Null when it never completed.
   */
  async lastAnswer(taskId: string): Promise<string | null> {
    const [full, summary] = await Promise.all([
      this.redis.get(this.keys.taskSummary(taskId)),
      this.redis.hget(this.keys.task(taskId), 'summary'),
    ]);
    return full ?? (summary || null);
  }

  /** Steering messages after `afterId`, oldest first. */
  readInbox(taskId: string, afterId: string) {
    return this.inbox.read(taskId, afterId);
  }

  appendEvent(taskId: string, type: TaskEventType, text: string) {
    return this.events.append(taskId, type, text);
  }

  /** Several events, possibly of several tasks, in one round trip. */
  appendEvents(events: [taskId: string, type: TaskEventType, text: string][]) {
    return this.events.appendMany(events);
  }

  /** The last `count` events, oldest first. */
  recentEvents(taskId: string, count: number) {
    return this.events.recent(taskId, count);
  }
}

/** The clear refusal of a batch that a quota would not fit (see lua/admit-tasks.lua). */
function quotaRefusal(
  outcome: string,
  found: number,
  request: Pick<AdmitRequest, 'origin' | 'quotas'>,
  asked: number,
): BatonError {
  const who = request.origin.userName ?? request.origin.user;
  const described: Record<string, [string, number | null | undefined, string]> = {
    over_user: [
      `${who} already has`,
      request.quotas?.perUser,
      'per person, across all conversations (quotas.max_active_tasks_per_user)',
    ],
    over_channel: [
      'this channel already has',
      request.quotas?.perChannel,
      'per channel (quotas.max_active_tasks_per_channel)',
    ],
    over_total: ['Baton already has', request.quotas?.total, 'in all (quotas.max_active_tasks)'],
    over_queued: [
      'Baton already has',
      request.quotas?.queued,
      'waiting in the queue (quotas.max_queued_tasks)',
    ],
  };
  const [subject, limit, scope] = described[outcome] ?? ['there are', null, ''];
  const what = outcome === 'over_queued' ? 'queued task(s)' : 'active task(s)';
  return new BatonError(
    'limit_quota',
    `${subject} ${found} ${what}; at most ${limit} may be ${outcome === 'over_queued' ? 'queued' : 'queued or running'} ` +
      `at once ${scope} (asked for ${asked} more). Wait for a task to finish or cancel one.`,
    { fault: 'user' },
  );
}
