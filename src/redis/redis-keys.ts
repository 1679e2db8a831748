/**
 * Every Redis key Baton uses, built in one place so all of them sit under the configured prefix. How long
 * each family lives is in key-lifetimes.ts.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  task(taskId: string): string {
    return `${this.prefix}:task:${taskId}`;
  }
  taskInbox(taskId: string): string {
    return `${this.prefix}:task:${taskId}:inbox`;
  }
  taskEvents(taskId: string): string {
    return `${this.prefix}:task:${taskId}:events`;
  }
  taskCheckpoint(taskId: string): string {
    return `${this.prefix}:task:${taskId}:checkpoint`;
  }
  taskChildren(taskId: string): string {
    return `${this.prefix}:task:${taskId}:children`;
  }
  taskSummary(taskId: string): string {
    return `${this.prefix}:task:${taskId}:summary`;
  }
  /** Remembers the steering message one steer_task call queued, so a replay queues none. */
  steerRecord(idempotencyKey: string): string {
    return `${this.prefix}:steer:${idempotencyKey}`;
  }
  /** Remembers which tasks one dispatch (one tool call) started, so a replay starts none. */
  dispatchRecord(idempotencyKey: string): string {
    return `${this.prefix}:dispatch:${idempotencyKey}`;
  }
  sessionTasks(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:tasks`;
  }
  allTasks(): string {
    return `${this.prefix}:tasks`;
  }
  channelTasks(platform: string, channel: string): string {
    return `${this.prefix}:channel:${platform}:${channel}:tasks`;
  }
  sessionActive(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:active`;
  }
  /** Tasks of a session parked waiting for a person (delegation.max_parked_per_session counts these). */
  sessionParked(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:parked`;
  }
  sessionHistory(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:history`;
  }
  /**
   * A session's pending turns (a list). The key keeps its old `inbox` name so turns queued by a running
   * deployment are not stranded by an upgrade; in code a session has turns, a task has an inbox.
   */
  sessionTurns(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:inbox`;
  }
  sessionTurnLock(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:turn-lock`;
  }
  /** The parent turn in progress in a thread: resumed, not restarted, by the next gateway after a crash. */
  sessionTurnCheckpoint(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:turn-checkpoint`;
  }
  /** The message the turn in progress streams its reply into, so a resumed turn edits it instead of posting. */
  sessionTurnStream(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:turn-stream`;
  }
  /** What one turn has already recorded (history appended, reply posted), so a replay does not repeat it. */
  sessionTurnRecord(sessionKey: string, turnId: string): string {
    return `${this.prefix}:session:${sessionKey}:turn:${turnId}`;
  }
  sessionBoard(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:board`;
  }
  sessionBoardLock(sessionKey: string): string {
    return `${this.prefix}:session:${sessionKey}:board-lock`;
  }
  /**
   * Finished tasks by the time their record expires (ms), each member a JSON array [task id, session key,
   * platform, channel]: what the retention sweeper removes from the task indexes once the record is gone.
   */
  taskExpirySchedule(): string {
    return `${this.prefix}:tasks:expiring`;
  }
  /** Held by the one process sweeping expired entries out of the indexes (see RetentionSweeper). */
  retentionSweepLock(): string {
    return `${this.prefix}:retention-sweep:lock`;
  }
  /** Set once the indexes written before the expiry schedule existed have been swept whole. */
  retentionBackfillDone(): string {
    return `${this.prefix}:retention-sweep:backfilled`;
  }
  /** Threads Baton converses in: a sorted set of session keys scored by their last activity (ms). */
  knownThreads(): string {
    return `${this.prefix}:threads`;
  }
  /** Sessions with turns waiting in their turn list. */
  pendingSessions(): string {
    return `${this.prefix}:sessions:pending`;
  }
  /** Sessions whose task board is still live. */
  liveBoards(): string {
    return `${this.prefix}:boards:live`;
  }
  /** Platform event ids already handled, for de-duplication. */
  seenEvent(platform: string, eventId: string): string {
    return `${this.prefix}:event:${platform}:${eventId}`;
  }
  /** Stream of top-level tasks that ended, consumed by the gateways' delivery pump. */
  taskEndings(): string {
    return `${this.prefix}:task-endings`;
  }
  /** Chunks already posted of one keyed Thread post (a reply), so a retry or a resumed turn skips them. */
  postProgress(postKey: string): string {
    return `${this.prefix}:post-progress:${postKey}`;
  }
  /** The messages keyed posts made in one thread (a sorted set by time), left out of lookups for unrecorded ones. */
  threadMessages(sessionKey: string): string {
    return `${this.prefix}:thread-messages:${sessionKey}`;
  }
  /**
   * Progress of posting one task's result (chunks sent, history appended); a reopened task's later rounds
   * each have their own, so a second result is never taken for the first one already posted.
   */
  delivery(taskId: string, round = 1): string {
    return round > 1 ? `${this.prefix}:delivery:${taskId}:r${round}` : `${this.prefix}:delivery:${taskId}`;
  }
  modelKeyCooldown(route: string, keyFingerprint: string): string {
    return `${this.prefix}:model-key-cooldown:${route}:${keyFingerprint}`;
  }
  /** Pub/sub channel carrying task signals (cancel, steer nudges, endings) to every process. */
  signalChannel(): string {
    return `${this.prefix}:signals`;
  }
  /**
   * Sorted set of worker ids, each scored by when its heartbeat lapses (ms): health counts the live ones
   * with one ZCOUNT instead of scanning the keyspace on every probe.
   */
  workerHeartbeats(): string {
    return `${this.prefix}:workers`;
  }
  // Quota sets of active (queued or running) task ids; every script that touches them is given them in KEYS.
  quotaUserActive(platform: string, user: string): string {
    return `${this.prefix}:quota:user:${platform}:${user}:active`;
  }
  quotaChannelActive(platform: string, channel: string): string {
    return `${this.prefix}:quota:channel:${platform}:${channel}:active`;
  }
  quotaActive(): string {
    return `${this.prefix}:quota:active`;
  }
  quotaQueued(): string {
    return `${this.prefix}:quota:queued`;
  }
  /** Parent turns a person has in progress (sorted set: turn id → lease expiry in ms). */
  quotaUserTurns(platform: string, user: string): string {
    return `${this.prefix}:quota:user:${platform}:${user}:turns`;
  }
  /** Tokens and cost of one UTC day (YYYY-MM-DD) for one scope, e.g. `user:slack:U1`, `route:default`. */
  usage(day: string, scope: string): string {
    return `${this.prefix}:usage:${day}:${scope}`;
  }
}
