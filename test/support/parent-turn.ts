import { runAgentLoop } from '../../src/agent/agent-loop.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { FakeOpenAIServer, FakeToolCall } from '../fakes/fake-openai-server.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { parentContext } from './baton-harness.ts';
import {
  type GoalScript,
  isParentRequest,
  parentSystemPrompt,
  scriptByGoal,
  toolResultsOf,
} from './model-scripts.ts';

/**
 * One turn of a minimal parent agent through the real model client: the fake model asks for `calls`
 * (run in parallel, as a model's tool batch is), then answers. Returns the JSON tool results the model
 * received in its next request, in call order.
 */
export async function runParentTurn(
  runtime: BatonRuntime,
  fake: FakeOpenAIServer,
  calls: FakeToolCall[],
  options: { childScripts?: Record<string, GoalScript>; sessionKey?: string } = {},
): Promise<Array<Record<string, unknown>>> {
  fake.setHandler(
    scriptByGoal(options.childScripts ?? {}, (_request, call) =>
      call === 1 ? toolCallReply(calls) : textReply('noted'),
    ),
  );
  const before = fake.requests.length;
  await runAgentLoop(
    {
      messages: [
        { role: 'system', content: parentSystemPrompt },
        { role: 'user', content: 'please do it' },
      ],
      steps: 0,
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    },
    {
      model: runtime.model,
      route: 'default',
      tools: runtime.parentTools(),
      toolContext: parentContext(options.sessionKey),
      toolTimeoutMs: 60_000,
      maxIterations: 5,
    },
  );
  const parentRequests = fake.requests.slice(before).filter(isParentRequest);
  return toolResultsOf(parentRequests.at(-1)!) as Array<Record<string, unknown>>;
}
