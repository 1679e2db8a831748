import { z } from 'zod';
import type { ChatMessage } from '../llm/model-client.ts';

/**
 * The shapes of session state as stored in Redis, validated on every read. Each carries a `version`;
 * state written before versions existed has none and reads as version 0, which has the same fields.
 * A new version adds a schema here and an upgrade from the one before it, so a deployment being upgraded
 * keeps reading what the previous one wrote (a turn in flight resumes rather than starting over).
 */

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

// Loose objects: a field a newer writer added survives a read by this one.
export const chatMessageSchema: z.ZodType<ChatMessage> = z.union([
  z.looseObject({ role: z.literal('system'), content: z.string() }),
  z.looseObject({ role: z.literal('user'), content: z.string(), name: z.string().optional() }),
  z.looseObject({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(toolCallSchema).optional(),
  }),
  z.looseObject({ role: z.literal('tool'), tool_call_id: z.string(), content: z.string() }),
]) as z.ZodType<ChatMessage>;

/** The version written by this code. */
export const historyItemVersion = 1;

/** One message of a thread's history. */
export const historyItemSchema = z.object({
  version: z.union([z.literal(0), z.literal(historyItemVersion)]).default(0),
  message: chatMessageSchema,
  /** Counted once when stored, so loading never re-tokenizes the whole history. */
  tokens: z.number().nonnegative(),
});

export type HistoryItem = z.infer<typeof historyItemSchema>;

export const parentTurnCheckpointVersion = 1;

/** A parent turn in progress, saved after each model answer and each tool batch. */
export const parentTurnCheckpointSchema = z
  .object({
    version: z.union([z.literal(0), z.literal(parentTurnCheckpointVersion)]).default(0),
    turnId: z.string(),
    messages: z.array(chatMessageSchema),
    steps: z.number().int().nonnegative(),
    usage: z.object({
      prompt_tokens: z.number(),
      completion_tokens: z.number(),
      total_tokens: z.number(),
      cached_tokens: z.number().optional(),
    }),
    /** Index of the turn's input in `messages`: what follows is new in this turn. */
    firstNew: z.number().int().nonnegative(),
    /** Set once the turn has its reply: a replay returns it without asking the model again. */
    reply: z.string().optional(),
    /** Starts of the tool calls under way (see AgentState); absent in checkpoints written before it existed. */
    toolCallStarts: z.record(z.string(), z.number()).optional(),
  })
  // The turn's input must be among its messages, or the turn could not tell what it added.
  .refine((checkpoint) => checkpoint.firstNew < checkpoint.messages.length, {
    message: 'firstNew is past the end of messages',
  });

export type ParentTurnCheckpoint = z.infer<typeof parentTurnCheckpointSchema>;

/** Parses stored JSON against a schema: the parsed value, or the reason it is not one. */
export function parseStored<Schema extends z.ZodType>(
  schema: Schema,
  raw: string,
): { ok: true; value: z.infer<Schema> } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const parsed = schema.safeParse(json);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, reason: z.prettifyError(parsed.error) };
}
