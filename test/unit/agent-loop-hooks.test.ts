import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AgentLoopHooks, type AgentState, runAgentLoop } from '../../src/agent/agent-loop.ts';
import {
  emptyUsage,
  type ModelClient,
  type ModelRequest,
  type ModelResponse,
} from '../../src/llm/model-client.ts';
import { defineTool } from '../../src/tools/tool.ts';
import { parentContext } from '../support/baton-harness.ts';

/** A scripted model on the port itself: answers each call with the next reply, recording what it was sent. */
function scriptedModel(replies: Array<ModelResponse['message']>): ModelClient & { requests: ModelRequest[] } {
  const requests: ModelRequest[] = [];
  return {
    requests,
    async complete(request) {
      requests.push({ ...request, messages: [...request.messages] });
      const message = replies.shift();
      if (!message) throw new Error('no reply scripted');
      const usage = { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 };
      return { message, finish_reason: 'stop', usage, model: 'scripted', latency_ms: 0 };
    },
  };
}

const echo = defineTool({
  name: 'echo',
  description: 'Echoes its text.',
  inputSchema: z.object({ text: z.string() }),
  async execute(input: { text: string }) {
    return { echoed: input.text };
  },
});

const callEcho = (id: string, text: string) => ({
  id,
  type: 'function' as const,
  function: { name: 'echo', arguments: JSON.stringify({ text }) },
});

describe('agent loop hooks', () => {
  it('prepare each step, start each tool batch saved, finish each step, and ask before a final answer', async () => {
    const model = scriptedModel([
      {
        role: 'assistant',
        content: null,
        tool_calls: [callEcho('call_a', 'one'), callEcho('call_b', 'two')],
      },
      { role: 'assistant', content: 'first answer' },
      { role: 'assistant', content: 'second answer' },
    ]);
    const seen: string[] = [];
    let finals = 0;
    const hooks: AgentLoopHooks = {
      async prepareStep(state, step) {
        seen.push(`prepare ${step} (${state.steps} done)`);
      },
      async onToolBatchStart(state, calls) {
        seen.push(
          `batch ${calls.map((call) => call.id).join(',')} starts ${JSON.stringify(state.toolCallStarts)}`,
        );
      },
      async onStepFinish(state, outcome) {
        const detail =
          outcome.kind === 'tool-calls'
            ? outcome.outcomes.map((result) => `${result.call.id}=${result.content}`).join(' ')
            : outcome.content;
        seen.push(`finish ${state.steps} ${outcome.kind}: ${detail}`);
      },
      async onFinal(state, content) {
        finals += 1;
        seen.push(`final ${content}`);
        // A steer arrived with the first answer: it is appended and the agent goes on.
        if (finals > 1) return 'finish';
        state.messages.push({ role: 'user', content: 'a steer' });
        return 'continue';
      },
    };
    const state: AgentState = { messages: [{ role: 'user', content: 'go' }], steps: 0, usage: emptyUsage() };
    const reply = await runAgentLoop(state, {
      model,
      route: 'default',
      tools: [echo],
      toolContext: parentContext(),
      toolTimeoutMs: 10_000,
      maxIterations: 10,
      hooks,
    });
    expect(reply).toBe('second answer');
    expect(seen).toEqual([
      'prepare 1 (0 done)',
      'batch call_a,call_b starts {"call_a":1,"call_b":1}',
      'finish 1 tool-calls: call_a={"echoed":"one"} call_b={"echoed":"two"}',
      'prepare 2 (1 done)',
      'final first answer',
      'finish 2 final: first answer',
      'prepare 3 (2 done)',
      'final second answer',
    ]);
    // The steer reached the model with the first answer before it, and no batch was left under way.
    expect(model.requests[2]!.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'a steer' },
    ]);
    expect(state).not.toHaveProperty('toolCallStarts');
    expect(state.steps).toBe(3);
  });
});
