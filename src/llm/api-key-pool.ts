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
 * How stale this process's view of the cool-downs may be, in milliseconds: a cool-down set by another
 * process is honoured here at most this long after it was set (this process's own are honoured at once).
 */
export const coolDownViewMaxAgeMs = 250;

/**
 * The keys of one route with their cool-downs. A key that got a 429 cools down in Redis, so every
 * worker process skips it too instead of each one discovering the rate limit by itself.
 *
 * Each pool keeps a view of the cool-downs in memory, so a model call does not cost a Redis round trip:
 * the view is read again from Redis when it is older than `coolDownViewMaxAgeMs`, or when it has no
 * key free (then the exact remaining times matter, and another process may have freed a key).
 */
export class ApiKeyPool {
  readonly keys: readonly ApiKey[];
  /** Per key, the epoch ms until which it cools down (0: free), as this process last saw or set it. */
  private readonly coolingUntil: number[];
  /** Per key, bumped on every local change, so a read that started before it does not undo it. */
  private readonly versions: number[];
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;

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
    this.coolingUntil = keys.map(() => 0);
    this.versions = keys.map(() => 0);
  }

  /** The first key not cooling down; when all are, the one free soonest and how long until then. */
  async pick(): Promise<PickedKey> {
    const cached = this.pickCached();
    if (cached) return cached;
    await this.readCoolDowns();
    return this.choose(Date.now());
  }

  /** What `pick` would answer, when the view is recent and has a key free; null when Redis must be read. */
  pickCached(): PickedKey | null {
    const now = Date.now();
    if (now - this.readAt >= coolDownViewMaxAgeMs) return null;
    const picked = this.choose(now);
    return picked.waitMs === 0 ? picked : null;
  }

  /** Marks `key` as rate-limited for `ms` milliseconds, for every process sharing this Redis. */
  async coolDown(key: ApiKey, ms: number): Promise<void> {
    const duration = Math.max(1, Math.ceil(ms));
    this.setLocally(key, Date.now() + duration);
    await this.redis.set(this.cooldownKeyOf(key), '1', 'PX', duration);
  }

  /** Ends a cool-down early: the key just answered, so it is evidently usable again. */
  async clearCoolDown(key: ApiKey): Promise<void> {
    this.setLocally(key, 0);
    await this.redis.del(this.cooldownKeyOf(key));
  }

  private choose(now: number): PickedKey {
    let best: PickedKey | undefined;
    for (let index = 0; index < this.keys.length; index += 1) {
      const waitMs = Math.max(0, this.coolingUntil[index]! - now);
      if (waitMs === 0) return { key: this.keys[index]!, waitMs: 0 };
      if (!best || waitMs < best.waitMs) best = { key: this.keys[index]!, waitMs };
    }
    return best!;
  }

  /** One round trip for every key's remaining cool-down; concurrent callers share it. */
  private readCoolDowns(): Promise<void> {
    this.reading ??= (async () => {
      const versions = [...this.versions];
      const startedAt = Date.now();
      const pipeline = this.redis.pipeline();
      for (const key of this.keys) pipeline.pttl(this.cooldownKeyOf(key));
      const results = (await pipeline.exec()) ?? [];
      results.forEach(([error, remaining], index) => {
        if (error) throw error;
        // A local change made while the read was in flight is newer than what was read.
        if (this.versions[index] !== versions[index]) return;
        // -2: no cool-down; -1 (no expiry) cannot happen for keys set here.
        this.coolingUntil[index] = typeof remaining === 'number' && remaining > 0 ? startedAt + remaining : 0;
      });
      this.readAt = startedAt;
    })().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private setLocally(key: ApiKey, until: number): void {
    const index = this.keys.findIndex((candidate) => candidate.fingerprint === key.fingerprint);
    if (index < 0) return;
    this.coolingUntil[index] = until;
    this.versions[index]! += 1;
  }

  private cooldownKeyOf(key: ApiKey): string {
    return this.redisKeys.modelKeyCooldown(this.route, key.fingerprint);
  }
}
