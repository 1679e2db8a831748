import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** Appends a turn to a session's inbox and marks the session pending. KEYS: inbox, pending set. ARGV: item, session. */
const enqueueScript = `
local length = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return length
`;

/** Drops the finished head turn, only while this process still holds the session. KEYS: lock, inbox. ARGV: token. */
const popScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[2])
return 1
`;

/**
 * Releases the session only when its inbox is empty; otherwise the holder keeps it and goes on, so a
 * turn pushed while the holder was finishing is never stranded. KEYS: lock, inbox, pending. ARGV: token, session.
 */
const releaseScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'lost' end
if redis.call('LLEN', KEYS[2]) > 0 then return 'more' end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[2])
return 'released'
`;

const renewScript = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

const lockMs = 10_000;
const renewEveryMs = 3_000;
const sweepEveryMs = 2_000;

export type TurnHandler<Item> = (sessionKey: string, item: Item) => Promise<void>;

/**
 * Runs each session's turns one at a time in arrival order, across every gateway process on one Redis,
 * while different sessions run in parallel. A session's inbox is a Redis list; whoever holds the
 * session's lock drains it. A turn is removed only after it ran, so a gateway that dies mid-turn leaves it
 * for the next holder (the lock expires), and a sweeper picks up sessions nobody is draining.
 */
export class SessionTurnQueue<Item> {
  private readonly token = randomUUID();
  private readonly draining = new Set<string>();
  private sweeper: NodeJS.Timeout | null = null;
  private running = 0;
  private readonly waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly handler: TurnHandler<Item>,
    private readonly options: { maxConcurrentSessions: number; logger: Logger },
  ) {}

  start(): void {
    this.sweeper = setInterval(() => void this.sweep(), sweepEveryMs);
    this.sweeper.unref();
    void this.sweep();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    while (this.draining.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** Queues a turn; returns how many turns of the session are ahead of it (including a running one). */
  async enqueue(sessionKey: string, item: Item): Promise<number> {
    const length = (await this.redis.eval(
      enqueueScript,
      2,
      this.keys.sessionInbox(sessionKey),
      this.keys.pendingSessions(),
      JSON.stringify(item),
      sessionKey,
    )) as number;
    void this.drain(sessionKey);
    return length - 1;
  }

  private async sweep(): Promise<void> {
    if (this.stopped) return;
    try {
      const sessions = await this.redis.smembers(this.keys.pendingSessions());
      for (const sessionKey of sessions) void this.drain(sessionKey);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'turn sweep failed');
    }
  }

  private async acquireSlot(): Promise<void> {
    if (this.running < this.options.maxConcurrentSessions) {
      this.running += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.running += 1;
  }

  private releaseSlot(): void {
    this.running -= 1;
    this.waiters.shift()?.();
  }

  private async drain(sessionKey: string): Promise<void> {
    if (this.stopped || this.draining.has(sessionKey)) return;
    this.draining.add(sessionKey);
    const lockKey = this.keys.sessionTurnLock(sessionKey);
    const inboxKey = this.keys.sessionInbox(sessionKey);
    try {
      const acquired = await this.redis.set(lockKey, this.token, 'PX', lockMs, 'NX');
      if (acquired !== 'OK') return;
      // Renew from the start: waiting for a free slot must not let the session's lock lapse.
      const renew = setInterval(
        () => void this.redis.eval(renewScript, 1, lockKey, this.token, lockMs).catch(() => undefined),
        renewEveryMs,
      );
      await this.acquireSlot();
      try {
        while (true) {
          const head = await this.redis.lindex(inboxKey, 0);
          if (head !== null) {
            try {
              await this.handler(sessionKey, JSON.parse(head) as Item);
            } catch (error) {
              // A turn that throws is dropped after logging: replaying it forever would wedge the thread.
              if (!this.stopped) this.options.logger.error({ err: error, sessionKey }, 'turn failed');
            }
            if (this.stopped) {
              // Interrupted by shutdown: leave the turn at the head for the next process to run.
              await this.redis.eval(releaseLockOnlyScript, 1, lockKey, this.token);
              return;
            }
            if ((await this.redis.eval(popScript, 2, lockKey, inboxKey, this.token)) !== 1) return;
            if (!this.stopped) continue;
          }
          const outcome = await this.redis.eval(
            releaseScript,
            3,
            lockKey,
            inboxKey,
            this.keys.pendingSessions(),
            this.token,
            sessionKey,
          );
          if (outcome !== 'more' || this.stopped) {
            if (outcome === 'more') await this.redis.eval(releaseLockOnlyScript, 1, lockKey, this.token);
            return;
          }
        }
      } finally {
        clearInterval(renew);
        this.releaseSlot();
      }
    } catch (error) {
      this.options.logger.warn({ err: error, sessionKey }, 'draining a session failed');
    } finally {
      this.draining.delete(sessionKey);
    }
  }
}

/** On shutdown with turns still waiting: let another process take the session at once. */
const releaseLockOnlyScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;
