import type { Redis } from 'ioredis';
import { loadLuaScript } from '../redis/lua-script.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';

// Takes (or renews) a lease on one of a person's turn slots; see the script's header.
const acquireScript = loadLuaScript(new URL('./lua/', import.meta.url), 'acquire-turn-lease');

const leaseMs = 60_000;
const renewEveryMs = 15_000;

export type TurnLease = { granted: true; release(): Promise<void> } | { granted: false; inProgress: number };

/**
 * Parent turns one person may have in progress at once, across every gateway (quotas.max_turns_per_user).
 * Leases are members of a sorted set scored by their expiry, so a gateway that dies mid-turn frees its
 * lease when it lapses.
 */
export class UserTurnLeases {
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
