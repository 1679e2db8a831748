import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import { ttlSeconds } from '../redis/key-lifetimes.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { BoardStates } from './board-states.ts';
import { KnownThreads } from './known-threads.ts';
import { ParentTurnCheckpoints } from './parent-turn-checkpoints.ts';
import { SessionHistory } from './session-history.ts';
import { SessionTurnLists } from './session-turn-lists.ts';
import { TurnRecords } from './turn-records.ts';
import { UserTurnLeases } from './user-turn-leases.ts';

export interface SessionStoreOptions {
  redis: Redis;
  keys: RedisKeys;
  /** redis.retention_days in seconds: how long an idle thread is remembered. */
  retentionSeconds: number;
  history: { tokenBudget: number; maxMessages: number };
  /** quotas.max_turns_per_user (null: no limit). */
  maxTurnsPerUser: number | null;
  logger: Logger;
}

/**
 * Everything Baton keeps about its conversations (the session side, beside TaskStore): the threads it
 * knows, event de-duplication, each thread's history, pending turns, turn checkpoints and records, task
 * boards, and per-person turn leases. One object owns them; each concern is its own small class, and all
 * of them take their lifetimes from keyLifetimes.
 */
export class SessionStore {
  readonly threads: KnownThreads;
  readonly history: SessionHistory;
  readonly turns: SessionTurnLists;
  readonly checkpoints: ParentTurnCheckpoints;
  readonly turnRecords: TurnRecords;
  readonly boards: BoardStates;
  readonly userTurns: UserTurnLeases;
  private readonly redis: Redis;
  private readonly keys: RedisKeys;
  private readonly retentionSeconds: number;

  constructor(options: SessionStoreOptions) {
    const { redis, keys, retentionSeconds, logger } = options;
    this.redis = redis;
    this.keys = keys;
    this.retentionSeconds = retentionSeconds;
    this.threads = new KnownThreads(redis, keys);
    this.history = new SessionHistory(redis, keys, {
      ...options.history,
      retentionSeconds: ttlSeconds('sessionHistory', retentionSeconds),
      logger,
    });
    this.turns = new SessionTurnLists(redis, keys);
    this.checkpoints = new ParentTurnCheckpoints(redis, keys, {
      seconds: ttlSeconds('sessionTurnCheckpoint', retentionSeconds),
      logger,
    });
    this.turnRecords = new TurnRecords(redis, keys, ttlSeconds('sessionTurnRecord', retentionSeconds));
    this.boards = new BoardStates(redis, keys, ttlSeconds('sessionBoard', retentionSeconds));
    this.userTurns = new UserTurnLeases(redis, keys, options.maxTurnsPerUser);
  }

  /** Whether a platform event is seen for the first time (it is then remembered, so a redelivery is not). */
  async firstSeen(platform: string, eventId: string): Promise<boolean> {
    const set = await this.redis.set(
      this.keys.seenEvent(platform, eventId),
      '1',
      'EX',
      ttlSeconds('seenEvent', this.retentionSeconds),
      'NX',
    );
    return set === 'OK';
  }
}
