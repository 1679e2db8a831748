/**
 * How long each family of Redis keys lives (see RedisKeys for the names), in one table that the TypeScript
 * and the Lua scripts both take from: a script gets its TTL as an ARGV, never as a literal.
 * - a number: seconds, set on every write;
 * - 'retention': redis.retention_days (config), as long as a thread or a task is remembered at all;
 * - 'none': no TTL, the key is bounded another way (said why beside it).
 * Short leases (turn and board locks, per-person turn leases, worker heartbeats) are not listed: their
 * holders set and renew them in milliseconds, and they lapse on their own when the holder dies.
 */
export type KeyLifetime = number | 'retention' | 'none';

const day = 24 * 3600;

export const keyLifetimes = {
  // --- sessions (src/sessions) ---
  /** Platform event ids already handled: platforms redeliver within minutes, a day is ample. */
  seenEvent: day,
  /** A thread's conversation with the parent: forgotten after a retention period idle. */
  sessionHistory: 'retention',
  /** Known threads: one sorted set, scored by last activity; the RetentionSweeper trims idle ones. */
  knownThreads: 'none',
  /**
   * A thread's pending turns and the set of threads with turns pending: a turn leaves the list once it
   * ran; a TTL would drop turns people are waiting for.
   */
  sessionTurns: 'none',
  pendingSessions: 'none',
  /** The parent turn in progress: a turn left unfinished longer (no gateway took it over) starts afresh. */
  sessionTurnCheckpoint: day,
  /** What one turn already recorded (history appended, reply posted): needed only while it may replay. */
  sessionTurnRecord: day,
  /**
   * A thread's live task board: deleted when it settles; every write renews its expiry, so a board whose
   * gateway died before settling it, or one written by a refresh racing its close, does not stay forever.
   */
  sessionBoard: 'retention',
  /** Sessions whose board is live: a member leaves when its board settles or has no task left. */
  liveBoards: 'none',
  /** Chunks already posted of a keyed reply: needed only while its turn may replay (as turn records). */
  postProgress: day,
  /**
   * Messages keyed posts made in a thread, each kept as long as a post's progress may still look one up (the
   * longest: a result's delivery progress); older members are trimmed on every write.
   */
  threadMessages: 7 * day,
  // --- delivery (src/gateway/delivery) ---
  /** Progress of posting one task's result: kept past any retry of its delivery job. */
  deliveryProgress: 7 * day,
  // --- tasks (src/tasks) ---
  /** A task record, its events, summary, checkpoint and children. */
  taskRecord: 'retention',
  /** Which tasks one dispatch (one tool call) started, so a replay starts none. */
  dispatchRecord: 7 * day,
  /** The steering message one steer_task call queued, so a replay queues none. */
  steerRecord: 7 * day,
  // --- usage and the console ---
  /** Tokens and cost of one day and scope: a month of reports, plus a day either side of a month's end. */
  usageDay: 32 * day,
  /** The console's record of which entry one request appended (idempotency of a retried POST). */
  consoleRequestRecord: day,
  /** A console thread and its transcript, as thread histories. */
  consoleThread: 'retention',
} as const satisfies Record<string, KeyLifetime>;

export type KeyFamily = keyof typeof keyLifetimes;

/** Seconds a key of `family` lives, with 'retention' resolved; null for keys without a TTL. */
export function lifetimeSeconds(family: KeyFamily, retentionSeconds: number): number | null {
  const lifetime: KeyLifetime = keyLifetimes[family];
  if (lifetime === 'none') return null;
  return lifetime === 'retention' ? retentionSeconds : lifetime;
}

/**
 * Seconds a key that serves one task lives: its family's lifetime, but never longer than the task's record
 * (redis.retention_days), so that nothing of a task is left once its record has expired.
 */
export function taskKeySeconds(family: KeyFamily, retentionSeconds: number): number {
  return Math.min(ttlSeconds(family, retentionSeconds), retentionSeconds);
}

/** Seconds of a family that must have a TTL (a number or 'retention'). */
export function ttlSeconds(family: KeyFamily, retentionSeconds: number): number {
  const seconds = lifetimeSeconds(family, retentionSeconds);
  if (seconds === null) throw new Error(`keys of ${family} have no TTL`);
  return seconds;
}

/** redis.retention_days by default (config/default.yaml), for stores built without a config. */
export const defaultRetentionSeconds = 30 * day;

/** redis.retention_days in seconds. */
export function retentionSecondsOf(retentionDays: number): number {
  return Math.round(retentionDays * day);
}
