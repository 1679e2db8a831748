import OpenAI from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
} from 'openai/resources/chat/completions';
import { completionSchema, type ParsedCompletion } from './completion-response.ts';
import type { AttemptFailure } from './retry-policy.ts';

export type AttemptResult =
  | { ok: true; completion: ParsedCompletion }
  | { ok: false; failure: AttemptFailure; error: unknown };

export interface ModelCallAttemptOptions {
  /** Milliseconds this attempt may take before it is aborted as a time-out. */
  timeoutMs: number;
  /** The caller's signal: its abort ends the attempt as `aborted`, not as a failure to retry. */
  signal: AbortSignal | undefined;
  /** Streams the answer (`stream: true`, usage included) and reports its text so far as it grows. */
  onText?: (textSoFar: string) => void;
}

/** One SDK request, its answer checked and any failure sorted for the retry policy; never throws. */
export async function runModelCallAttempt(
  client: OpenAI,
  body: ChatCompletionCreateParamsNonStreaming,
  options: ModelCallAttemptOptions,
): Promise<AttemptResult> {
  const callerSignal = options.signal;
  // One controller per attempt, cleared afterwards, so neither timers nor listeners outlive it.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onCallerAbort = () => controller.abort();
  callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    const completion = options.onText
      ? await streamedCompletion(client, body, controller.signal, options.onText)
      : await client.chat.completions.create(body, { signal: controller.signal });
    const parsed = completionSchema.safeParse(completion);
    if (!parsed.success) return { ok: false, failure: { kind: 'invalid_response' }, error: parsed.error };
    return { ok: true, completion: parsed.data };
  } catch (error) {
    if (callerSignal?.aborted) return { ok: false, failure: { kind: 'aborted' }, error };
    if (timedOut) return { ok: false, failure: { kind: 'timeout' }, error };
    return { ok: false, failure: classifyError(error), error };
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
  }
}

/**
 * One `stream: true` request assembled into the shape of a plain completion, checked by the same schema:
 * content pieces joined (reported as they come), tool calls gathered by their index, the finish reason and
 * the usage chunk (`stream_options.include_usage`) kept.
 */
async function streamedCompletion(
  client: OpenAI,
  body: ChatCompletionCreateParamsNonStreaming,
  signal: AbortSignal,
  onText: (textSoFar: string) => void,
): Promise<unknown> {
  const stream = await client.chat.completions.create(
    { ...body, stream: true, stream_options: { include_usage: true } },
    { signal },
  );
  let model: string | undefined;
  let content: string | null = null;
  let finishReason: string | null = null;
  let usage: ChatCompletionChunk['usage'] = null;
  const toolCalls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> = [];
  for await (const chunk of stream) {
    model ??= chunk.model;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.finish_reason) finishReason = choice.finish_reason;
    const delta = choice.delta;
    if (typeof delta.content === 'string' && delta.content !== '') {
      content = (content ?? '') + delta.content;
      onText(content);
    } else if (typeof delta.content === 'string' && content === null) {
      content = '';
    }
    for (const piece of delta.tool_calls ?? []) {
      const call = toolCalls[piece.index] ?? {
        id: '',
        type: 'function',
        function: { name: '', arguments: '' },
      };
      toolCalls[piece.index] = call;
      if (piece.id) call.id = piece.id;
      if (piece.type) call.type = piece.type;
      if (piece.function?.name) call.function.name += piece.function.name;
      if (piece.function?.arguments) call.function.arguments += piece.function.arguments;
    }
  }
  const calls = toolCalls.filter((call) => call !== undefined);
  return {
    model,
    choices: [
      {
        finish_reason: finishReason,
        message: { content: content === '' && calls.length > 0 ? null : content, tool_calls: calls },
      },
    ],
    usage,
  };
}

/** Sorts what the SDK threw; the caller's abort and our time-out are told apart before this. */
function classifyError(error: unknown): AttemptFailure {
  if (error instanceof OpenAI.APIUserAbortError || error instanceof OpenAI.APIConnectionError) {
    return { kind: 'connection' };
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    return { kind: 'http', status: error.status, headers: error.headers };
  }
  // undici reports a connection dropped mid-body as `TypeError: terminated`.
  if (error instanceof TypeError) return { kind: 'connection' };
  return { kind: 'invalid_response' };
}
