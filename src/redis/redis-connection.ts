import { Redis, type RedisOptions } from 'ioredis';

/**
 * One factory for every Redis connection Baton opens. `maxRetriesPerRequest: null` is what BullMQ
 * requires of its connections, and it also keeps Baton's own commands waiting through a reconnect
 * instead of failing.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: 'baton',
    ...options,
  });
}
