import { Redis, type RedisOptions } from 'ioredis';

/**
 * One factory for every Redis connection Baton opens. `maxRetriesPerRequest: null` is what BullMQ
 * requires of its connections, and it also keeps Baton's own commands waiting through a reconnect
 * instead of failing.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  const connection = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: 'baton',
    ...options,
  });
  // Without a listener ioredis prints every failed reconnect as a stack trace ("Unhandled error event").
  // A lost Redis is reported once per change of state by RedisAvailability, not once per retry.
  connection.on('error', () => undefined);
  return connection;
}

/** The URL without its password, for messages and logs. */
export function displayRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Whether an error only says the connection to Redis is gone (it comes back by itself), not a bug. */
export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code && connectionErrorCodes.has(code)) return true;
  return /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|LOADING|READONLY|MASTERDOWN|All sentinels are unreachable/.test(
    error.message,
  );
}

/**
 * Whether a BullMQ error says a job's lock lapsed: what a Redis outage (or a failover) longer than the lock
 * leaves behind. The stall check hands such a job out again and the child resumes from its checkpoint, so
 * it is no fault of its own; the outage itself was reported once when it began.
 */
export function isLapsedLockError(error: unknown): boolean {
  return (
    error instanceof Error &&
    /Missing lock for job|could not renew lock for job|Lock mismatch for job/.test(error.message)
  );
}

/** "connection refused", "unknown host redis.internal", …: why Redis could not be reached, in words. */
export function describeRedisConnectionError(error: unknown, host: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `unknown host ${host}`;
    case 'ETIMEDOUT':
      return 'timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(message)) return 'authentication failed';
      return message;
  }
}
