import { Redis, type RedisOptions } from 'ioredis';
import { BatonError } from '../errors.ts';
import { describeRedisConnectionError, displayRedisUrl } from './redis-connection.ts';

export interface RedisProbeOptions {
  /** How long to keep trying (Redis may still be starting, e.g. beside Baton in compose); ms. */
  timeoutMs: number;
  /** Pause between attempts; default 250 ms. */
  retryDelayMs?: number;
  /** Sentinel settings, as every connection gets them. */
  redisOptions?: RedisOptions;
  /** How Redis is named in the message; default the URL without its password. */
  display?: string;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

async function tryOnce(url: string, timeoutMs: number, redisOptions: RedisOptions): Promise<unknown> {
  // Its own connection without retries or an offline queue: it answers "reachable or not" once.
  const probe = new Redis(url, {
    ...redisOptions,
    // With sentinels: ask each once, do not wait for one to come up.
    sentinelRetryStrategy: () => null,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: Math.max(500, timeoutMs),
    connectionName: 'baton-probe',
  });
  // connect() rejects with a bare "Connection is closed"; the socket's own error says why.
  let socketError: unknown = null;
  probe.on('error', (error) => {
    socketError ??= error;
  });
  try {
    await probe.connect();
    await probe.ping();
    return null;
  } catch (error) {
    return socketError ?? error;
  } finally {
    probe.disconnect();
  }
}

/**
 * Checks once at start that Redis answers, so a wrong REDIS_URL ends the process with one clear line
 * ("cannot reach Redis at redis://…: connection refused") instead of retrying forever.
 */
export async function assertRedisReachable(url: string, options: RedisProbeOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  do {
    lastError = await tryOnce(url, deadline - Date.now(), options.redisOptions ?? {});
    if (lastError === null) return;
    await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 250));
  } while (Date.now() < deadline);
  throw new BatonError(
    'redis_unavailable',
    `cannot reach Redis at ${options.display ?? displayRedisUrl(url)}: ${describeRedisConnectionError(lastError, hostOf(url))}`,
    { fault: 'user', cause: lastError },
  );
}
