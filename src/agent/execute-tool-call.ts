import { describeError } from '../errors.ts';
import type { ToolCall } from '../llm/model-client.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import { cutText } from '../text/cut-text.ts';
import type { Tool, ToolContext } from '../tools/tool.ts';
import { untilAborted } from '../until-aborted.ts';

/** Longest tool result handed back to the model, in characters; a runaway tool cannot flood the context. */
const maxToolResultChars = 60_000;

export interface ToolCallOutcome {
  call: ToolCall;
  ok: boolean;
  /** JSON text sent back to the model as the tool message. */
  content: string;
}

function errorContent(message: string): string {
  return JSON.stringify({ error: message });
}

/**
 * Runs one model-requested tool call. Every failure — unknown tool, arguments that are not JSON or do not
 * match the schema, a thrown error, a time-out — becomes a JSON `{error}` result the model can read.
 * Only the caller's own abort propagates, so cancel stops the agent at once.
 */
export async function executeToolCall(
  call: ToolCall,
  toolsByName: ReadonlyMap<string, Tool>,
  context: ToolContext,
  timeoutMs: number,
): Promise<ToolCallOutcome> {
  const fail = (message: string): ToolCallOutcome => ({ call, ok: false, content: errorContent(message) });
  const tool = toolsByName.get(call.function.name);
  if (!tool) {
    const available = [...toolsByName.keys()].join(', ') || 'none';
    return fail(`unknown tool "${call.function.name}"; available tools: ${available}`);
  }
  let rawArguments: unknown;
  try {
    rawArguments = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
  } catch (error) {
    return fail(`arguments of ${tool.name} are not valid JSON (${describeError(error)}); send a JSON object`);
  }
  const parsed = tool.inputSchema.safeParse(rawArguments);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'arguments'}: ${issue.message}`)
      .join('; ');
    return fail(`invalid arguments for ${tool.name}: ${problems}`);
  }
  const limitMs = tool.timeoutMs?.(parsed.data) ?? timeoutMs;
  const timeoutSignal = AbortSignal.timeout(limitMs);
  const signal = AbortSignal.any([context.signal, timeoutSignal]);
  try {
    const result = await untilAborted(
      tool.execute(parsed.data, { ...context, signal, toolCallId: call.id }),
      signal,
    );
    let content = typeof result === 'string' ? JSON.stringify({ result }) : JSON.stringify(result ?? {});
    if (content.length > maxToolResultChars) {
      content = JSON.stringify({
        truncated: true,
        result: cutText(content, maxToolResultChars, { marker: '' }),
      });
    }
    return { call, ok: true, content: redactSecrets(content) };
  } catch (error) {
    if (context.signal.aborted) throw context.signal.reason ?? error;
    if (timeoutSignal.aborted) return fail(`${tool.name} timed out after ${Math.round(limitMs / 1000)} s`);
    return fail(redactSecrets(describeError(error)));
  }
}
