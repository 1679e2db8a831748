import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BatonError } from '../errors.ts';
import { registerSecret } from '../logging/redact-secrets.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** One API key; only `fingerprint` may appear in Redis keys and logs. */
export interface ApiKey {
  value: string;
  /** First 12 hex characters of sha256(value). */
  fingerprint: string;
  /** Environment variable the key came from; null for the placeholder of a keyless endpoint. */
  envName: string | null;
}

export interface PickedKey {
  key: ApiKey;
  /** Milliseconds until `key` stops cooling down; 0 when it is free now. */
  waitMs: number;
}

export function fingerprintKey(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 12);
}

/**
 * The keys named by a route's `api_key_env`, in order, skipping unset or empty variables and repeated
 * values. Each value is registered as a secret so logs scrub it.
 */
export function readApiKeys(envNames: readonly string[], env: NodeJS.ProcessEnv): ApiKey[] {
  const keys: ApiKey[] = [];
  for (const envName of envNames) {
    const value = env[envName]?.trim();
    if (!value || keys.some((key) => key.value === value)) continue;
    registerSecret(value);
    keys.push({ value, fingerprint: fingerprintKey(value), envName });
  }
  return keys;
}

/**
 * The keys of one route with their cool-downs. A key that got a 429 cools down in Redis, so every
 * worker process skips it at once instead of each one discovering the rate limit by itself.
 */
export class ApiKeyPool {
  readonly keys: readonly ApiKey[];
  private readonly cooldownKeys: string[];

  constructor(
    readonly route: string,
    keys: readonly ApiKey[],
    private readonly redis: Redis,
    private readonly redisKeys: RedisKeys,
  ) {
    if (keys.length === 0) {
      throw new BatonError('model_missing_key', `route "${route}" has no API key`, { fault: 'user' });
    }
    this.keys = keys;
    this.cooldownKeys = keys.map((key) => redisKeys.modelKeyCooldown(route, key.fingerprint));
  }

  /** The first key not cooling down; when all are, the one free soonest and how long until then. */
  async pick(): Promise<PickedKey> {
    const cooling = await this.redis.mget(...this.cooldownKeys);
    const freeIndex = cooling.indexOf(null);
    if (freeIndex >= 0) return { key: this.keys[freeIndex]!, waitMs: 0 };
    // Rare path (every key rate-limited), so the extra round trip for the remaining times is fine.
    const pipeline = this.redis.pipeline();
    for (const cooldownKey of this.cooldownKeys) pipeline.pttl(cooldownKey);
    const results = (await pipeline.exec()) ?? [];
    let best: PickedKey | undefined;
    results.forEach(([error, remaining], index) => {
      // -2: expired since the MGET, so free now; -1 (no expiry) cannot happen for keys we set.
      const waitMs = error || typeof remaining !== 'number' ? 0 : Math.max(0, remaining);
      if (!best || waitMs < best.waitMs) best = { key: this.keys[index]!, waitMs };
    });
    return best ?? { key: this.keys[0]!, waitMs: 0 };
  }

  /** Marks `key` as rate-limited for `ms` milliseconds, for every process sharing this Redis. */
  async coolDown(key: ApiKey, ms: number): Promise<void> {
    await this.redis.set(this.cooldownKeyOf(key), '1', 'PX', Math.max(1, Math.ceil(ms)));
  }

  /** Ends a cool-down early: the key just answered, so it is evidently usable again. */
  async clearCoolDown(key: ApiKey): Promise<void> {
    await this.redis.del(this.cooldownKeyOf(key));
  }

  private cooldownKeyOf(key: ApiKey): string {
    return this.redisKeys.modelKeyCooldown(this.route, key.fingerprint);
  }
}
