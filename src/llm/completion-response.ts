import { z } from 'zod';
import { emptyUsage, type ModelResponse, type ToolCall } from './model-client.ts';

/** What Baton reads from a chat completion, checked at the edge because compatible servers vary. */
export const completionSchema = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        finish_reason: z.string().nullish(),
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string(),
                type: z.string(),
                function: z.object({ name: z.string(), arguments: z.string() }).optional(),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
  usage: z
    .object({
      prompt_tokens: z.number(),
      completion_tokens: z.number(),
      total_tokens: z.number().optional(),
      prompt_tokens_details: z.object({ cached_tokens: z.number().nullish() }).nullish(),
    })
    .nullish(),
});

export type ParsedCompletion = z.infer<typeof completionSchema>;

/**
 * The port's response from a checked completion: the first choice, function tool calls only, usage
 * filled in (zeros when the endpoint sent none). `startedAt` is a `performance.now()` reading.
 */
export function toModelResponse(
  completion: ParsedCompletion,
  requestedModel: string,
  startedAt: number,
): ModelResponse {
  const choice = completion.choices[0]!;
  const toolCalls: ToolCall[] = (choice.message.tool_calls ?? []).flatMap((call) =>
    call.type === 'function' && call.function
      ? [
          {
            id: call.id,
            type: 'function' as const,
            function: { name: call.function.name, arguments: call.function.arguments },
          },
        ]
      : [],
  );
  const usage = completion.usage;
  return {
    message: {
      role: 'assistant',
      content: choice.message.content ?? null,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    },
    finish_reason: choice.finish_reason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
    usage: usage
      ? {
          prompt_tokens: usage.prompt_tokens,
          completion_tokens: usage.completion_tokens,
          total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
          ...(usage.prompt_tokens_details?.cached_tokens
            ? { cached_tokens: usage.prompt_tokens_details.cached_tokens }
            : {}),
        }
      : emptyUsage(),
    model: completion.model ?? requestedModel,
    latency_ms: Math.round(performance.now() - startedAt),
  };
}
