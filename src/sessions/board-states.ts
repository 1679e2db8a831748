import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** A board's stored state: fields absent until set (`since` when opened, the rest once posted). */
export interface BoardState {
  since?: string;
  messageId?: string;
  signature?: string;
  editedAt?: string;
  /**
   * A board post under way (where the platform's creates take no key): when it was about to be made (epoch
   * ms) and its text as sent, until its message is recorded; a gateway that died in between leaves the
   * next one enough to find that message instead of posting a second board.
   */
  postingAt?: string;
  postingText?: string;
}

/**
 * The state of each thread's live task board (its message, what it last showed, when it was last edited),
 * the set of threads whose board is live, and the short lock that picks one gateway per refresh.
 */
export class BoardStates {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Seconds a board's state outlives its last write (see keyLifetimes.sessionBoard). */
    private readonly seconds: number,
  ) {}

  /** Opens the thread's board (from a second ago) unless one is open already, and marks it live. */
  async open(sessionKey: string, now = Date.now()): Promise<void> {
    await this.redis
      .multi()
      .hsetnx(this.keys.sessionBoard(sessionKey), 'since', String(now - 1000))
      .expire(this.keys.sessionBoard(sessionKey), this.seconds)
      .sadd(this.keys.liveBoards(), sessionKey)
      .exec();
  }

  async liveSessions(): Promise<string[]> {
    return this.redis.smembers(this.keys.liveBoards());
  }

  /**
   * Takes the board's refresh lock for `lockMs` and reads its state, in one round trip (most ticks end
   * right after it). Null when another gateway holds the lock.
   */
  async lockAndRead(sessionKey: string, lockMs: number): Promise<BoardState | null> {
    const replies =
      (await this.redis
        .pipeline()
        .set(this.keys.sessionBoardLock(sessionKey), '1', 'PX', lockMs, 'NX')
        .hgetall(this.keys.sessionBoard(sessionKey))
        .exec()) ?? [];
    const failure = replies.find(([error]) => error !== null)?.[0];
    if (failure) throw failure;
    if (replies[0]?.[1] !== 'OK') return null;
    return replies[1]![1] as BoardState;
  }

  /** Forgets what the board last showed, so its next refresh edits it. */
  async forgetSignature(sessionKey: string): Promise<void> {
    await this.redis.hdel(this.keys.sessionBoard(sessionKey), 'signature');
  }

  /** The board's message is gone: the next refresh posts a new one. */
  async forgetMessage(sessionKey: string): Promise<void> {
    await this.redis.hdel(this.keys.sessionBoard(sessionKey), 'messageId');
  }

  /** Records a board post about to be made: its time and its text as sent (see `BoardState.postingAt`). */
  async recordPosting(sessionKey: string, at: number, text: string): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.sessionBoard(sessionKey), 'postingAt', String(at), 'postingText', text)
      .expire(this.keys.sessionBoard(sessionKey), this.seconds)
      .exec();
  }

  /** Records an edit or a post (with `messageId`, ending the post under way) of the board. */
  async recordShown(sessionKey: string, signature: string, at: number, messageId?: string): Promise<void> {
    const fields = ['signature', signature, 'editedAt', String(at)];
    if (messageId !== undefined) fields.push('messageId', messageId);
    const transaction = this.redis.multi().hset(this.keys.sessionBoard(sessionKey), ...fields);
    if (messageId !== undefined)
      transaction.hdel(this.keys.sessionBoard(sessionKey), 'postingAt', 'postingText');
    await transaction.expire(this.keys.sessionBoard(sessionKey), this.seconds).exec();
  }

  /** The board has no task to show: it is no longer live. */
  async dropLive(sessionKey: string): Promise<void> {
    await this.redis.srem(this.keys.liveBoards(), sessionKey);
  }

  /** The board is final: the next task in this thread opens a new one. */
  async close(sessionKey: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.sessionBoard(sessionKey))
      .srem(this.keys.liveBoards(), sessionKey)
      .exec();
  }
}
