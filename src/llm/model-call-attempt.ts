import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
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
    const completion = await client.chat.completions.create(body, { signal: controller.signal });
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
