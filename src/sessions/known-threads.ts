import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';

/**
 * Turns the plain set the threads index used to be into the sorted set it is now, scoring every thread
 * with the time of the migration (so each keeps a whole retention period). A no-op once migrated, so
 * several processes may race to it. KEYS: threads index. ARGV: now (ms). Returns how many it moved.
 */
const migrateFromSetScript = `
if redis.call('TYPE', KEYS[1]).ok ~= 'set' then return 0 end
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
for first = 1, #members, 500 do
  local scored = {}
  for index = first, math.min(first + 499, #members) do
    scored[#scored + 1] = ARGV[1]
    scored[#scored + 1] = members[index]
  end
  redis.call('ZADD', KEYS[1], unpack(scored))
end
return #members
`;

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
