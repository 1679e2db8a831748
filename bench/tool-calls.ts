/** Runs the real delegation tools the way the agent loop does (executeToolCall), for the benchmarks. */
import { executeToolCall } from '../src/agent/execute-tool-call.ts';
import type { ToolCall } from '../src/llm/model-client.ts';
import type { BatonRuntime } from '../src/runtime/baton-runtime.ts';
import type { Tool, ToolContext } from '../src/tools/tool.ts';

export class ParentTools {
  private readonly tools: ReadonlyMap<string, Tool>;
  private counter = 0;

  constructor(
    runtime: BatonRuntime,
    private readonly context: ToolContext,
    private readonly timeoutMs = 30_000,
  ) {
    this.tools = new Map(runtime.parentTools().map((tool) => [tool.name, tool]));
  }

  /** Calls a tool with JSON arguments; throws when the tool answered with an error. */
  async call<T = Record<string, unknown>>(name: string, input: Record<string, unknown>): Promise<T> {
    this.counter += 1;
    const call: ToolCall = {
      id: `call_bench_${this.counter}`,
      type: 'function',
      function: { name, arguments: JSON.stringify(input) },
    };
    const outcome = await executeToolCall(call, this.tools, this.context, this.timeoutMs);
    if (!outcome.ok) throw new Error(`${name} failed: ${outcome.content}`);
    return JSON.parse(outcome.content) as T;
  }
}
