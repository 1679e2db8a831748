import type { Redis } from 'ioredis';
import { defaultRetentionSeconds, keyLifetimes } from '../redis/key-lifetimes.ts';
import { loadLuaScript } from '../redis/lua-script.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';
import type { UsageWrite } from '../redis/usage-write.ts';
import { addAmounts, noUsage, type UsageAmounts } from './usage-cost.ts';

/** Who a model call is counted for: the person and channel whose message led to it, its task, its route. */
export interface UsageScope {
  platform: string;
  channel: string;
  user: string;
  /** The child task making the call; null for a parent turn. */
  taskId: string | null;
}

/** Names of the scopes one call is counted under (the suffix of RedisKeys.usage). */
export const scopeNames = {
  user: (platform: string, user: string) => `user:${platform}:${user}`,
  channel: (platform: string, channel: string) => `channel:${platform}:${channel}`,
  task: (taskId: string) => `task:${taskId}`,
  route: (route: string) => `route:${route}`,
  all: () => 'all',
};

// Kept a little longer than the 30 days the reports cover.
const keepSeconds = keyLifetimes.usageDay;

/** `YYYY-MM-DD` of a UTC day, `daysAgo` days before `now`. */
export function utcDay(now: number, daysAgo = 0): string {
  return new Date(now - daysAgo * 24 * 3600 * 1000).toISOString().slice(0, 10);
}

function toAmounts(hash: Record<string, string> | null | undefined): UsageAmounts {
  if (!hash) return noUsage();
  return {
    input: Number(hash.input ?? 0),
    cached: Number(hash.cached ?? 0),
    output: Number(hash.output ?? 0),
    cost: Number(hash.cost ?? 0),
    calls: Number(hash.calls ?? 0),
  };
}

const recordUsageScript = loadLuaScript(new URL('./lua/', import.meta.url), 'record-usage');

/**
 * Tokens and cost per UTC day, per person, channel, task and route, in Redis hashes that expire after 32
 * days. Each call is added by one script (lua/record-usage.lua), so every scope sees it or none does, from
 * any process.
 */
export class UsageLedger {
  private readonly scripts: RedisScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** redis.retention_days in seconds: a task's usage lives no longer than its record. */
    private readonly retentionSeconds = defaultRetentionSeconds,
  ) {
    this.scripts = new RedisScriptRunner(redis);
  }

  async record(scope: UsageScope, route: string, amounts: UsageAmounts, now = Date.now()): Promise<void> {
    await this.apply(this.write(scope, route, amounts, now));
  }

  /**
   * What adding one call takes (the keys and arguments of lua/add-usage.lua), for a script to carry: a
   * child's calls are counted by the write that ends their step (see ChildRun).
   */
  write(scope: UsageScope, route: string, amounts: UsageAmounts, now = Date.now()): UsageWrite {
    const day = utcDay(now);
    // 'all' first: the script gives the day's index its expiry along with the day's first 'all' hash.
    const names = [
      scopeNames.all(),
      scopeNames.user(scope.platform, scope.user),
      scopeNames.channel(scope.platform, scope.channel),
      scopeNames.route(route),
      ...(scope.taskId ? [scopeNames.task(scope.taskId)] : []),
    ];
    return {
      keys: [
        this.keys.usage(day, 'scopes'),
        this.keys.usage(day, 'task-scopes'),
        ...names.map((name) => this.keys.usage(day, name)),
      ],
      args: [
        String(keepSeconds),
        String(Math.min(keepSeconds, this.retentionSeconds)),
        String(amounts.input),
        String(amounts.cached),
        String(amounts.output),
        String(amounts.cost),
        String(amounts.calls),
        ...names,
      ],
    };
  }

  /** Adds a write that no other script took (see `write`). */
  async apply(write: UsageWrite): Promise<void> {
    await this.scripts.run(recordUsageScript, write.keys, write.args);
  }

  /** One scope's usage on each of the last `days` UTC days (today included), summed. */
  async total(scopeName: string, days: number, now = Date.now()): Promise<UsageAmounts> {
    const [total] = await this.totals([scopeName], days, now);
    return total!;
  }

  /** `total` of several scopes, read in one pipeline; in the order of `scopeNames`. */
  async totals(scopeNames: string[], days: number, now = Date.now()): Promise<UsageAmounts[]> {
    const pipeline = this.redis.pipeline();
    for (const scopeName of scopeNames) {
      for (let ago = 0; ago < days; ago += 1) pipeline.hgetall(this.keys.usage(utcDay(now, ago), scopeName));
    }
    const replies = (await pipeline.exec()) ?? [];
    return scopeNames.map((_, index) => {
      let total = noUsage();
      for (const [error, hash] of replies.slice(index * days, (index + 1) * days)) {
        if (!error) total = addAmounts(total, toAmounts(hash as Record<string, string>));
      }
      return total;
    });
  }

  /** Every scope with usage in the last `days` UTC days, summed per scope. */
  async allScopes(days: number, now = Date.now()): Promise<Map<string, UsageAmounts>> {
    const indexes = this.redis.pipeline();
    for (let ago = 0; ago < days; ago += 1) {
      indexes.smembers(this.keys.usage(utcDay(now, ago), 'scopes'));
      indexes.smembers(this.keys.usage(utcDay(now, ago), 'task-scopes'));
    }
    const indexed = ((await indexes.exec()) ?? []).map(([error, names]) =>
      error ? [] : (names as string[]),
    );
    // Two indexes a day: the day's scopes, then its tasks.
    const perDay = Array.from({ length: days }, (_unused, ago) => [
      ...indexed[2 * ago]!,
      ...indexed[2 * ago + 1]!,
    ]);
    const reads = this.redis.pipeline();
    const order: string[] = [];
    perDay.forEach((names, ago) => {
      for (const name of names) {
        order.push(name);
        reads.hgetall(this.keys.usage(utcDay(now, ago), name));
      }
    });
    const totals = new Map<string, UsageAmounts>();
    const replies = order.length > 0 ? ((await reads.exec()) ?? []) : [];
    replies.forEach(([error, hash], index) => {
      if (error) return;
      const name = order[index]!;
      totals.set(name, addAmounts(totals.get(name) ?? noUsage(), toAmounts(hash as Record<string, string>)));
    });
    return totals;
  }
}
