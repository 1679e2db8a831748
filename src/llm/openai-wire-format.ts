import type { ServerResponse } from 'node:http';
import type { TokenUsage } from './model-client.ts';

/**
 * The server side of the OpenAI chat-completions wire: a `chat.completion` body, or the
 * `chat.completion.chunk` server-sent events of `stream: true`, in the exact shapes the `openai` SDK
 * parses. The offline demo model answers through it, and so does the fake server the tests use.
 */

/** One assistant answer, ready to be written. */
export interface WireCompletion {
  /** e.g. `chatcmpl-…`; every chunk of a stream carries the same one. */
  id: string;
  /** Unix time in seconds. */
  created: number;
  model: string;
  content: string | null;
  toolCalls: WireToolCall[];
  /** `stop`, `tool_calls`, `length`, …; sent as is. */
  finishReason: string;
  /** Null sends no usage at all. */
  usage: WireUsage | null;
}

export interface WireToolCall {
  id: string;
  name: string;
  /** JSON text, sent as is (it may be malformed on purpose). */
  arguments: string;
}

/** The `usage` object, in the same shape Baton's model port reads back. */
export type WireUsage = Omit<TokenUsage, 'cached_tokens'> & {
  prompt_tokens_details?: { cached_tokens: number };
};

export interface WriteCompletionOptions {
  /** The request's `stream`: server-sent events instead of one JSON body. */
  stream: boolean;
  /** The request's `stream_options.include_usage`: every chunk says `usage: null`, a last one the usage. */
  includeUsage: boolean;
  /** Cuts content and tool-call arguments into the deltas of a stream, so clients must assemble them. */
  fragments: (text: string) => string[];
}

export const eventStreamHeaders = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
} as const;

/** Writes the whole answer, as JSON or as a complete event stream, and ends the response. */
export function writeChatCompletion(
  response: ServerResponse,
  completion: WireCompletion,
  options: WriteCompletionOptions,
): void {
  if (options.stream) {
    response.writeHead(200, eventStreamHeaders);
    response.end(chatCompletionEventFrames(completion, options).join(''));
    return;
  }
  const payload = JSON.stringify(chatCompletionBody(completion));
  response.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload);
}

/** The non-streaming `chat.completion` object. */
function chatCompletionBody(completion: WireCompletion): Record<string, unknown> {
  const message: Record<string, unknown> = { role: 'assistant', content: completion.content, refusal: null };
  if (completion.toolCalls.length > 0) {
    message.tool_calls = completion.toolCalls.map((call) => ({
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: call.arguments },
    }));
  }
  return {
    id: completion.id,
    object: 'chat.completion',
    created: completion.created,
    model: completion.model,
    choices: [{ index: 0, finish_reason: completion.finishReason, logprobs: null, message }],
    ...(completion.usage ? { usage: completion.usage } : {}),
  };
}

/**
 * Frames as OpenAI sends them: role first, content pieces, each tool call with index/id/type/name then
 * its argument pieces, the finish reason, the usage when asked for, `[DONE]`.
 */
export function chatCompletionEventFrames(
  completion: WireCompletion,
  options: Pick<WriteCompletionOptions, 'includeUsage' | 'fragments'>,
): string[] {
  const { includeUsage, fragments } = options;
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({
      id: completion.id,
      object: 'chat.completion.chunk',
      created: completion.created,
      model: completion.model,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    })}\n\n`;
  const delta = (value: Record<string, unknown>, finishReason: string | null = null) => ({
    index: 0,
    delta: value,
    logprobs: null,
    finish_reason: finishReason,
  });

  const frames = [frame([delta({ role: 'assistant', content: completion.content === null ? null : '' })])];
  for (const piece of fragments(completion.content ?? '')) frames.push(frame([delta({ content: piece })]));
  completion.toolCalls.forEach((call, index) => {
    const opening = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
    frames.push(frame([delta({ tool_calls: [opening] })]));
    for (const piece of fragments(call.arguments)) {
      frames.push(frame([delta({ tool_calls: [{ index, function: { arguments: piece } }] })]));
    }
  });
  frames.push(frame([delta({}, completion.finishReason)]));
  if (includeUsage && completion.usage) frames.push(frame([], { usage: completion.usage }));
  frames.push('data: [DONE]\n\n');
  return frames;
}

/** Plausible, non-zero figures that grow with the traffic: about four characters a token. */
export function estimateUsage(
  promptChars: number,
  content: string | null,
  toolCalls: readonly WireToolCall[],
): WireUsage {
  const producedChars =
    (content?.length ?? 0) + toolCalls.reduce((sum, call) => sum + call.arguments.length, 0);
  const promptTokens = Math.max(1, Math.ceil(promptChars / 4));
  const completionTokens = Math.max(1, Math.ceil(producedChars / 4));
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** Pieces of `size` characters (the last may be shorter); none for an empty string. */
export function splitEvery(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let start = 0; start < text.length; start += size) pieces.push(text.slice(start, start + size));
  return pieces;
}
