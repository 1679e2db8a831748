import type { Redis } from 'ioredis';
import { loadLuaScript } from '../redis/lua-script.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';

const migrateFromSetScript = loadLuaScript(
  new URL('./lua/', import.meta.url),
  'migrate-threads-to-sorted-set',
);

/**
 * The threads Baton converses in (by session key), scored by their last activity, so a thread idle for
 * longer than the retention period is forgotten, as its history is (see RetentionSweeper).
 */
export class KnownThreads {
  private readonly scripts: RedisScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = new RedisScriptRunner(redis);
  }

  /** Marks the thread as known and active now. */
  async touch(sessionKey: string, at = Date.now()): Promise<void> {
    await this.migratingOnce(() => this.redis.zadd(this.keys.knownThreads(), at, sessionKey));
  }

  async has(sessionKey: string): Promise<boolean> {
    return (await this.migratingOnce(() => this.redis.zscore(this.keys.knownThreads(), sessionKey))) !== null;
  }

  /** Forgets threads last active before `cutoffMs`; returns how many. */
  async forgetIdleSince(cutoffMs: number): Promise<number> {
    return this.migratingOnce(() =>
      this.redis.zremrangebyscore(this.keys.knownThreads(), '-inf', `(${cutoffMs}`),
    );
  }

  /** Runs a sorted-set command; when a deployment from before still has a plain set there, migrates it first. */
  private async migratingOnce<Result>(command: () => Promise<Result>): Promise<Result> {
    try {
      return await command();
    } catch (error) {
      // Redis reports the type mismatch only through its error text.
      if (!(error instanceof Error) || !error.message.startsWith('WRONGTYPE')) throw error;
      await this.scripts.run(migrateFromSetScript, [this.keys.knownThreads()], [Date.now()]);
      return command();
    }
  }
}
