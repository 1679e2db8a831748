import type { RedisOptions } from 'ioredis';
import { displayRedisUrl } from './redis-connection.ts';

/** Where Baton's Redis is: a URL, or a master found through Sentinel (the URL then gives password and db). */
export interface RedisTarget {
  url: string;
  /** Added to every connection: the Sentinel settings, when there are sentinels. */
  options: RedisOptions;
  /** For messages and logs (no password). */
  display: string;
}

/** The `redis.*` keys this reads (config sits beside redis in the layers, so its shape is restated). */
export interface RedisTargetSettings {
  url: string | null;
  sentinels: string[];
  sentinel_name: string | null;
}

/** `host:port` as ioredis takes a sentinel. */
function parseSentinel(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return {
    host: address.slice(0, separator).replace(/^\[|\]$/g, ''),
    port: Number(address.slice(separator + 1)),
  };
}

/**
 * The shared Redis of `redis.url` / `REDIS_URL`, or of `redis.sentinels` + `redis.sentinel_name`; null when
 * neither is set (then `baton start` runs a private redis-server).
 */
export function redisTargetOf(redis: RedisTargetSettings): RedisTarget | null {
  if (redis.sentinels.length === 0) {
    return redis.url ? { url: redis.url, options: {}, display: displayRedisUrl(redis.url) } : null;
  }
  const name = redis.sentinel_name ?? 'mymaster';
  return {
    // Only the password, user and db of a URL count with sentinels; the master's address comes from them.
    url: redis.url ?? 'redis://localhost:6379',
    options: {
      sentinels: redis.sentinels.map(parseSentinel),
      name,
      // No `failoverDetector`: in ioredis 6 its disconnect can land while a connection is being made after
      // the master died, which ends that connection for good ("Connection is closed" on every command).
      // A master demoted while alive answers writes with READONLY: reconnect (asking the sentinels again)
      // and resend the command.
      reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
    },
    display: `sentinel master "${name}" (${redis.sentinels.join(', ')})`,
  };
}

/** A target for a plain URL (a private redis-server, tests). */
export function redisTargetOfUrl(url: string): RedisTarget {
  return { url, options: {}, display: displayRedisUrl(url) };
}
