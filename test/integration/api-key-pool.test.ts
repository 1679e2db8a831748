import { beforeEach, describe, expect, it } from 'vitest';
import { type ApiKey, ApiKeyPool, coolDownViewMaxAgeMs, fingerprintKey } from '../../src/llm/api-key-pool.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const redis = useTestRedis();
let keys: RedisKeys;

beforeEach(() => {
  keys = new RedisKeys(uniquePrefix('key-pool'));
});

const apiKey = (value: string): ApiKey => ({ value, fingerprint: fingerprintKey(value), envName: null });
const first = apiKey('sk-first-aaaaaaaaaaaaaaaa');
const second = apiKey('sk-second-bbbbbbbbbbbbbbb');

/** A worker process's pool: its own instance, the shared Redis. */
const workerPool = () => new ApiKeyPool('default', [first, second], redis.client, keys);

/** Cool-down reads the server has answered so far (one PTTL per key per read). */
async function cooldownReads(): Promise<number> {
  const stats = await redis.client.info('commandstats');
  return Number(/cmdstat_pttl:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('API key pool', () => {
  it('reads the cool-downs from Redis at most once per view age while a key is free', async () => {
    const pool = workerPool();
    const before = await cooldownReads();
    for (let call = 0; call < 20; call += 1) expect((await pool.pick()).key).toBe(first);
    expect((await cooldownReads()) - before).toBe(2);

    await sleep(coolDownViewMaxAgeMs + 20);
    expect((await pool.pick()).key).toBe(first);
    expect((await cooldownReads()) - before).toBe(4);
  });

  it("skips its own cooling key at once, and another process's within the view age", async () => {
    const pool = workerPool();
    const otherWorker = workerPool();
    expect((await pool.pick()).key).toBe(first);
    expect((await otherWorker.pick()).key).toBe(first);

    await pool.coolDown(first, 5000);
    expect(await pool.pick()).toEqual({ key: second, waitMs: 0 });
    expect(await redis.client.pttl(keys.modelKeyCooldown('default', first.fingerprint))).toBeGreaterThan(
      4000,
    );

    // The other process may still use its view for up to coolDownViewMaxAgeMs, never longer.
    await sleep(coolDownViewMaxAgeMs + 20);
    expect(await otherWorker.pick()).toEqual({ key: second, waitMs: 0 });
  });

  it('reads Redis when every key is cooling, for the exact wait and for keys freed elsewhere', async () => {
    const pool = workerPool();
    const otherWorker = workerPool();
    await pool.coolDown(first, 5000);
    await pool.coolDown(second, 300);
    const picked = await pool.pick();
    expect(picked.key).toBe(second);
    expect(picked.waitMs).toBeGreaterThan(200);
    expect(picked.waitMs).toBeLessThanOrEqual(300);

    // The key answered for another worker, which ends its cool-down for everyone at once.
    await otherWorker.clearCoolDown(second);
    expect(await pool.pick()).toEqual({ key: second, waitMs: 0 });
  });
});
