import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/**
 * How many chunks of one keyed post are already on the platform. A post is never replayed whole: a retry,
 * or a turn resumed by another gateway after a crash, starts at the first chunk not yet posted.
 */
export interface ChunkProgress {
  posted(): Promise<number>;
  record(postedCount: number): Promise<void>;
}

/** Where keyed posts keep their progress. */
export interface PostProgressStore {
  for(postKey: string): ChunkProgress;
}

/** Progress in Redis (`post-progress:<key>`), shared by every gateway, expiring after `seconds`. */
export class RedisPostProgress implements PostProgressStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly seconds: number,
  ) {}

  for(postKey: string): ChunkProgress {
    return hashFieldProgress(this.redis, this.keys.postProgress(postKey), 'chunksPosted', this.seconds);
  }
}

/** Progress kept in one field of a Redis hash (result delivery keeps it beside its other marks). */
export function hashFieldProgress(redis: Redis, key: string, field: string, seconds: number): ChunkProgress {
  return {
    posted: async () => Number((await redis.hget(key, field)) ?? 0),
    record: async (postedCount) => {
      await redis.multi().hset(key, field, String(postedCount)).expire(key, seconds).exec();
    },
  };
}

/** Progress in this process only (tests, and surfaces without Redis). */
export class MemoryPostProgress implements PostProgressStore {
  private readonly counts = new Map<string, number>();

  for(postKey: string): ChunkProgress {
    return {
      posted: async () => this.counts.get(postKey) ?? 0,
      record: async (postedCount) => {
        this.counts.set(postKey, postedCount);
      },
    };
  }
}
