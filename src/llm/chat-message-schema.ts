import { z } from 'zod';
import type { ChatMessage, TokenUsage, ToolCall } from './model-client.ts';

/*
 * The port's own shapes (model-client.ts) as zod schemas, for reading back what Baton stored: checkpoints
 * and histories hold conversations, and what comes out of Redis is checked like any other input.
 */

export const toolCallSchema: z.ZodType<ToolCall> = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

export const chatMessageSchema: z.ZodType<ChatMessage> = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), content: z.string() }),
  z.object({ role: z.literal('user'), content: z.string(), name: z.string().optional() }),
  z.object({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(toolCallSchema).optional(),
  }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string(), content: z.string() }),
]);

// Any number: a provider reporting odd counts must not make a checkpoint unreadable.
const tokenCount = z.number();

export const tokenUsageSchema: z.ZodType<TokenUsage> = z.object({
  prompt_tokens: tokenCount,
  completion_tokens: tokenCount,
  total_tokens: tokenCount,
  cached_tokens: tokenCount.optional(),
});
