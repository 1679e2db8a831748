import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { AppendRecord } from './session-history.ts';

/**
 * What one turn has already recorded (its history appended, its reply posted), so a replay after a crash
 * neither appends nor posts twice.
 */
export class TurnRecords {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly seconds: number,
  ) {}

  /** Where the turn marks its history appended (see SessionHistory.appendOnce). */
  historyAppended(sessionKey: string, turnId: string): AppendRecord {
    return {
      key: this.keys.sessionTurnRecord(sessionKey, turnId),
      field: 'historyAppended',
      seconds: this.seconds,
    };
  }

  async replyPosted(sessionKey: string, turnId: string): Promise<boolean> {
    return (await this.redis.hget(this.keys.sessionTurnRecord(sessionKey, turnId), 'replyPosted')) !== null;
  }

  async markReplyPosted(sessionKey: string, turnId: string): Promise<void> {
    const key = this.keys.sessionTurnRecord(sessionKey, turnId);
    await this.redis.multi().hset(key, 'replyPosted', '1').expire(key, this.seconds).exec();
  }
}
