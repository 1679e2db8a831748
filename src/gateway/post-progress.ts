import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/**
 * A chunk about to be posted, recorded before the platform call where the platform's creates take no
 * idempotency key (Slack) or honour it for minutes only (Discord): an attempt that finds one without the
 * chunk recorded as posted looks the message up (`ChatAdapter.findPostedMessage`) instead of posting again.
 */
export interface PostIntent {
  /** The chunk's index in its post. */
  index: number;
  /** When the create call was about to be made, epoch ms (this gateway's clock). */
  at: number;
  /** `fingerprintOf` the exact Markdown the call carries: the retry's chunk must be the same text. */
  fingerprint: string;
}

/** What a keyed post has recorded: chunks posted, and the create call under way when it stopped, if any. */
export interface ChunkState {
  posted: number;
  intent: PostIntent | null;
}

/**
 * How many chunks of one keyed post are already on the platform. A post is never replayed whole: a retry,
 * or a turn resumed by another gateway after a crash, starts at the first chunk not yet posted.
 */
export interface ChunkProgress {
  posted(): Promise<number>;
  /** Records `postedCount` chunks posted, the last one as `messageId` when given; clears the intent. */
  record(postedCount: number, messageId?: string): Promise<void>;
  /** Progress and intent at once; absent: this progress keeps no intents (the post never looks up). */
  state?(): Promise<ChunkState>;
  recordIntent?(intent: PostIntent): Promise<void>;
}

/**
 * The messages keyed posts made in one thread, with when they were recorded: a lookup for an unrecorded
 * chunk leaves them out, so a message of another post with the same text is never taken for it.
 */
export interface ThreadMessages {
  add(messageId: string): Promise<void>;
  /** Ids recorded at or after `since` (epoch ms). */
  since(since: number): Promise<string[]>;
}

/** Where keyed posts keep their progress. */
export interface PostProgressStore {
  for(postKey: string): ChunkProgress;
  /** The messages recorded in one thread (a session key); absent where nothing looks messages up. */
  messagesIn?(sessionKey: string): ThreadMessages;
}

/** A short, stable fingerprint of a chunk's text (64 bits of SHA-256, hex). */
export function fingerprintOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Progress in Redis (`post-progress:<key>`), shared by every gateway, expiring after `seconds`. */
export class RedisPostProgress implements PostProgressStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly seconds: number,
    /** How long a thread's recorded messages are kept: as long as any intent that may look them up. */
    private readonly threadMessageSeconds = seconds,
  ) {}

  for(postKey: string): ChunkProgress {
    return hashFieldProgress(this.redis, this.keys.postProgress(postKey), 'chunksPosted', this.seconds);
  }

  messagesIn(sessionKey: string): ThreadMessages {
    const { redis } = this;
    const key = this.keys.threadMessages(sessionKey);
    const keepMs = this.threadMessageSeconds * 1000;
    return {
      add: async (messageId) => {
        const now = Date.now();
        await redis
          .multi()
          .zadd(key, now, messageId)
          .zremrangebyscore(key, '-inf', now - keepMs)
          .expire(key, this.threadMessageSeconds)
          .exec();
      },
      since: (since) => redis.zrangebyscore(key, since, '+inf'),
    };
  }
}

/**
 * Progress kept in fields of a Redis hash (result delivery and prompts keep it beside their other marks):
 * the count in `field`, the intent in `<field>Intent`, and the last message's id in `messageIdField` when
 * one is named.
 */
export function hashFieldProgress(
  redis: Redis,
  key: string,
  field: string,
  seconds: number,
  messageIdField?: string,
): ChunkProgress {
  const intentField = `${field}Intent`;
  return {
    posted: async () => Number((await redis.hget(key, field)) ?? 0),
    state: async () => {
      const [posted, intent] = await redis.hmget(key, field, intentField);
      return { posted: Number(posted ?? 0), intent: parseIntent(intent) };
    },
    recordIntent: async (intent) => {
      const value = `${intent.index}:${intent.at}:${intent.fingerprint}`;
      await redis.multi().hset(key, intentField, value).expire(key, seconds).exec();
    },
    record: async (postedCount, messageId) => {
      const fields: Record<string, string> = { [field]: String(postedCount) };
      if (messageIdField && messageId) fields[messageIdField] = messageId;
      await redis.multi().hset(key, fields).hdel(key, intentField).expire(key, seconds).exec();
    },
  };
}

function parseIntent(value: string | null | undefined): PostIntent | null {
  const match = value ? /^(\d+):(\d+):([0-9a-f]+)$/.exec(value) : null;
  if (!match) return null;
  return { index: Number(match[1]), at: Number(match[2]), fingerprint: match[3]! };
}

/** Progress in this process only (tests, and surfaces without Redis). */
export class MemoryPostProgress implements PostProgressStore {
  private readonly states = new Map<string, ChunkState>();
  private readonly threads = new Map<string, Array<{ messageId: string; at: number }>>();

  for(postKey: string): ChunkProgress {
    const read = () => this.states.get(postKey) ?? { posted: 0, intent: null };
    return {
      posted: async () => read().posted,
      state: async () => ({ ...read() }),
      recordIntent: async (intent) => {
        this.states.set(postKey, { ...read(), intent });
      },
      record: async (postedCount) => {
        this.states.set(postKey, { posted: postedCount, intent: null });
      },
    };
  }

  messagesIn(sessionKey: string): ThreadMessages {
    const list = this.threads.get(sessionKey) ?? [];
    this.threads.set(sessionKey, list);
    return {
      add: async (messageId) => {
        list.push({ messageId, at: Date.now() });
      },
      since: async (since) => list.filter((entry) => entry.at >= since).map((entry) => entry.messageId),
    };
  }
}
