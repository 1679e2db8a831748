/** Messages in the OpenAI chat-completions shape, which every supported endpoint speaks. */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string; name?: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A tool as the model sees it: name, description and a JSON schema of its arguments. */
export interface ToolDefinition {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Of the prompt tokens, those the provider served from its prompt cache (usage.prompt_tokens_details). */
  cached_tokens?: number;
}

export interface ModelRequest {
  /** Named route of `models.routes`; the client's default route when omitted. */
  route?: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  /** Aborts the in-flight HTTP request and any retry wait. */
  signal?: AbortSignal;
  /**
   * Asks for a streamed answer (`stream: true`): called with the answer's text so far each time more
   * arrives. A retried attempt starts again from its first piece, so the text may shrink. Tool calls are
   * still assembled whole before `complete` resolves, and usage is still reported.
   */
  onText?: (textSoFar: string) => void;
}

export interface ModelResponse {
  message: { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] };
  finish_reason: string;
  usage: TokenUsage;
  /** Model name the endpoint reported. */
  model: string;
  /** Milliseconds from the first attempt to the answer, retries included. */
  latency_ms: number;
}

/** One chat-completions call with tools, retried on 429/5xx/time-outs, cancellable through its signal. */
export interface ModelClient {
  complete(request: ModelRequest): Promise<ModelResponse>;
}

export const emptyUsage = (): TokenUsage => ({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });

export function addUsage(total: TokenUsage, more: TokenUsage): TokenUsage {
  return {
    prompt_tokens: total.prompt_tokens + more.prompt_tokens,
    completion_tokens: total.completion_tokens + more.completion_tokens,
    total_tokens: total.total_tokens + more.total_tokens,
    ...(total.cached_tokens || more.cached_tokens
      ? { cached_tokens: (total.cached_tokens ?? 0) + (more.cached_tokens ?? 0) }
      : {}),
  };
}
