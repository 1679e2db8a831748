import { z } from 'zod';
import type { ConversationRef, InboundMessage } from './chat-adapter.ts';

/** A queued unit of parent work for one thread. */
export type TurnItem =
  | { kind: 'message'; message: InboundMessage }
  | { kind: 'task-ended'; taskId: string; ref: ConversationRef };

// Loose objects: a field a newer gateway adds survives a read by this one during a rolling upgrade.
const refSchema = z.looseObject({
  platform: z.string(),
  channel: z.string(),
  thread: z.string(),
  privateThread: z.boolean().optional(),
});

const turnItemSchema = z.union([
  z.looseObject({
    kind: z.literal('message'),
    message: z.looseObject({
      ref: refSchema,
      user: z.looseObject({
        id: z.string(),
        name: z.string(),
        roleIds: z.array(z.string()),
        workspaceId: z.string().optional(),
        trusted: z.boolean().optional(),
      }),
      text: z.string(),
      messageId: z.string(),
      eventId: z.string(),
    }),
  }),
  z.looseObject({ kind: z.literal('task-ended'), taskId: z.string(), ref: refSchema }),
]);

/** Reads a queued turn back; throws on one that is not a turn (the queue drops it with the error). */
export function parseTurnItem(raw: string): TurnItem {
  return turnItemSchema.parse(JSON.parse(raw)) as TurnItem;
}
