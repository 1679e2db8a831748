import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';

/**
 * Takes (or renews) a lease on one of a person's turn slots. Leases are members of a sorted set scored by
 * their expiry, so a gateway that dies mid-turn frees its lease when it lapses; a replayed turn (same id)
 * renews the lease it already had instead of taking a second one.
 * KEYS: the person's turn set.  ARGV: turn id, now (ms), lease (ms), limit.
 * Returns {'ok'} or {'over', count}.
 */
const acquireScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local expiry = tonumber(ARGV[2]) + tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local count = redis.call('ZCARD', KEYS[1])
  if count >= tonumber(ARGV[4]) then return {'over', tostring(count)} end
end
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'ok'}
`;

const leaseMs = 60_000;
const renewEveryMs = 15_000;

export type TurnLease = { granted: true; release(): Promise<void> } | { granted: false; inProgress: number };

/** Parent turns one person may have in progress at once, across every gateway (quotas.max_turns_per_user). */
export class UserTurnQuota {
  private readonly scripts: RedisScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly limit: number | null,
  ) {
    this.scripts = new RedisScriptRunner(redis);
  }

  async acquire(platform: string, user: string, turnId: string): Promise<TurnLease> {
    if (this.limit === null) return { granted: true, release: async () => undefined };
    const key = this.keys.quotaUserTurns(platform, user);
    const take = () =>
      this.scripts.run<[string, string?]>(acquireScript, [key], [turnId, Date.now(), leaseMs, this.limit!]);
    const [outcome, count] = await take();
    if (outcome !== 'ok') return { granted: false, inProgress: Number(count) };
    const renew = setInterval(() => void take().catch(() => undefined), renewEveryMs);
    renew.unref();
    return {
      granted: true,
      release: async () => {
        clearInterval(renew);
        await this.redis.zrem(key, turnId);
      },
    };
  }
}
