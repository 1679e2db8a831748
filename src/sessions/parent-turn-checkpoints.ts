import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logging/logger.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import {
  type ParentTurnCheckpoint,
  parentTurnCheckpointSchema,
  parentTurnCheckpointVersion,
  parseStored,
} from './stored-shapes.ts';

const streamModeSchema = z.enum(['native', 'edit']);

/**
 * The messages a turn's reply streams into (see MessageStream and stream-record.ts), with the one about to
 * be created: a resumed turn finishes those messages.
 */
export const turnStreamSchema = z.union([
  z.object({
    turnId: z.string(),
    messages: z.array(z.object({ messageId: z.string().min(1), mode: streamModeSchema })),
    starting: z
      .object({ index: z.number().int().min(0), mode: streamModeSchema, at: z.number(), text: z.string() })
      .optional(),
  }),
  // As gateways wrote it before a reply could stream into several messages: one message.
  z
    .object({ turnId: z.string(), messageId: z.string().min(1), mode: streamModeSchema })
    .transform(({ turnId, messageId, mode }) => ({ turnId, messages: [{ messageId, mode }] })),
]);
export type TurnStream = z.output<typeof turnStreamSchema>;

/** A checkpoint as the parent agent saves it; the version is added here. */
export type ParentTurnCheckpointInput = Omit<ParentTurnCheckpoint, 'version'>;

/**
 * The parent turn in progress in each thread (one per thread, since a thread runs one turn at a time),
 * resumed rather than restarted by the next gateway after a crash.
 */
export class ParentTurnCheckpoints {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly options: { seconds: number; logger: Logger },
  ) {}

  /**
   * The thread's checkpoint, or null when there is none or it does not pass validation: a turn whose
   * checkpoint cannot be read starts afresh (with a warning) instead of failing again on every replay.
   */
  async load(sessionKey: string): Promise<ParentTurnCheckpoint | null> {
    const raw = await this.redis.get(this.keys.sessionTurnCheckpoint(sessionKey));
    if (raw === null) return null;
    const parsed = parseStored(parentTurnCheckpointSchema, raw);
    if (parsed.ok) return parsed.value;
    this.options.logger.warn(
      { sessionKey, reason: parsed.reason },
      'parent turn checkpoint unreadable; the turn starts afresh',
    );
    return null;
  }

  async save(sessionKey: string, checkpoint: ParentTurnCheckpointInput): Promise<void> {
    const stored: ParentTurnCheckpoint = { version: parentTurnCheckpointVersion, ...checkpoint };
    await this.redis.set(
      this.keys.sessionTurnCheckpoint(sessionKey),
      JSON.stringify(stored),
      'EX',
      this.options.seconds,
    );
  }

  /** Records the stream messages of the turn in progress, beside its checkpoint and with its lifetime. */
  async saveStream(sessionKey: string, stream: TurnStream): Promise<void> {
    await this.redis.set(
      this.keys.sessionTurnStream(sessionKey),
      JSON.stringify(stream),
      'EX',
      this.options.seconds,
    );
  }

  /** The stream messages of turn `turnId`, or null (none, another turn's, or unreadable). */
  async loadStream(sessionKey: string, turnId: string): Promise<TurnStream | null> {
    const raw = await this.redis.get(this.keys.sessionTurnStream(sessionKey));
    if (raw === null) return null;
    const parsed = parseStored(turnStreamSchema, raw);
    return parsed.ok && parsed.value.turnId === turnId ? parsed.value : null;
  }

  async clear(sessionKey: string): Promise<void> {
    await this.redis.del(
      this.keys.sessionTurnCheckpoint(sessionKey),
      this.keys.sessionTurnStream(sessionKey),
    );
  }
}
