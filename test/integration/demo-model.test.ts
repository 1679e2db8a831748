import OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAgentLoop } from '../../src/agent/agent-loop.ts';
import { childOpeningMessages, steeringMessage } from '../../src/agent/child-prompt.ts';
import { mergeLayers } from '../../src/config/load-config.ts';
import { demoConfigLayer } from '../../src/demo/demo-config.ts';
import { type DemoModelServer, startDemoModelServer } from '../../src/demo/demo-model-server.ts';
import { createDemoTools, demoToolsetName } from '../../src/demo/demo-toolset.ts';
import type { ModelCallRecord } from '../../src/llm/openai-model-client.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { toToolDefinition } from '../../src/tools/tool.ts';
import { buildTestConfig, eventually, parentContext, testCaller, testEnv } from '../support/baton-harness.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const parentToolNames = [
  'delegate_task',
  'delegate_task_async',
  'check_task',
  'steer_task',
  'collect_task',
  'cancel_task',
  'list_tasks',
];

function functionTool(name: string, parameters: Record<string, unknown> = { type: 'object' }) {
  return { type: 'function', function: { name, description: name, parameters } } as ChatCompletionTool;
}

const parentTools = parentToolNames.map((name) => functionTool(name));
const childTools = createDemoTools().map((tool) => {
  const definition = toToolDefinition(tool);
  return functionTool(definition.name, definition.parameters);
});
const parentSystem: ChatCompletionMessageParam = {
  role: 'system',
  content: 'You are Baton, a parent agent.',
};

type Mode = 'plain' | 'streaming';

/** One call in either mode; streaming goes through the SDK's stream helper, which checks every frame. */
async function complete(
  client: OpenAI,
  mode: Mode,
  messages: ChatCompletionMessageParam[],
  tools: ChatCompletionTool[],
): Promise<ChatCompletion> {
  const body = { model: 'baton-demo', messages, tools };
  if (mode === 'plain') return client.chat.completions.create(body);
  const stream = client.chat.completions.stream({ ...body, stream_options: { include_usage: true } });
  return stream.finalChatCompletion();
}

function toolCallsOf(completion: ChatCompletion) {
  return (completion.choices[0]!.message.tool_calls ?? []).map((call) => {
    if (call.type !== 'function') throw new Error(`unexpected tool call type ${call.type}`);
    return { id: call.id, name: call.function.name, arguments: JSON.parse(call.function.arguments) };
  });
}

describe('offline demo model over the openai SDK', () => {
  let demo: DemoModelServer;
  let client: OpenAI;

  beforeAll(async () => {
    demo = await startDemoModelServer({ stepDelayMs: 15 });
    client = new OpenAI({ apiKey: 'ignored', baseURL: demo.baseURL, maxRetries: 0 });
  });
  afterAll(async () => {
    await demo.close();
  });

  it('lists the baton-demo model', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual(['baton-demo']);
  });

  it.each<Mode>(['plain', 'streaming'])(
    'plans two background tasks for a request, then reports their ids (%s)',
    async (mode) => {
      const request = 'compare Redis Streams and Kafka for our queue';
      const messages: ChatCompletionMessageParam[] = [parentSystem, { role: 'user', content: request }];
      const planned = await complete(client, mode, messages, parentTools);
      expect(planned.choices[0]!.finish_reason).toBe('tool_calls');
      expect(planned.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(planned.usage!.completion_tokens).toBeGreaterThan(0);
      const calls = toolCallsOf(planned);
      expect(calls.map((call) => call.name)).toEqual(['delegate_task_async', 'delegate_task_async']);
      expect(calls.map((call) => call.arguments.goal)).toEqual([`Research: ${request}`, `Draft: ${request}`]);
      expect(calls[0]!.arguments.context).toContain(request);

      messages.push(planned.choices[0]!.message as ChatCompletionMessageParam);
      calls.forEach((call, index) => {
        const taskId = index === 0 ? 't_7k2m9q' : 't_3fh8wx';
        messages.push({
          role: 'tool',
          tool_call_id: call.id,
          content: JSON.stringify({ task_id: taskId, status: 'queued' }),
        });
      });
      const told = await complete(client, mode, messages, parentTools);
      const content = told.choices[0]!.message.content!;
      expect(told.choices[0]!.finish_reason).toBe('stop');
      expect(toolCallsOf(told)).toEqual([]);
      expect(content.startsWith('[demo model] ')).toBe(true);
      expect(content).toContain('t_7k2m9q');
      expect(content).toContain('t_3fh8wx');
      expect(content).toContain('posted here');
    },
  );

  it('checks the tasks a status question names, then summarises what check_task returned', async () => {
    const messages: ChatCompletionMessageParam[] = [
      parentSystem,
      { role: 'user', content: 'how is t_7k2m9q doing? and T_3FH8WX?' },
    ];
    const checking = await complete(client, 'plain', messages, parentTools);
    const calls = toolCallsOf(checking);
    expect(calls.map((call) => [call.name, call.arguments])).toEqual([
      ['check_task', { task_id: 't_7k2m9q' }],
      ['check_task', { task_id: 't_3fh8wx' }],
    ]);
    messages.push(checking.choices[0]!.message as ChatCompletionMessageParam);
    messages.push({
      role: 'tool',
      tool_call_id: calls[0]!.id,
      content: JSON.stringify({
        task_id: 't_7k2m9q',
        status: 'running',
        goal: 'Research: x',
        elapsed_s: 4.2,
        steps: 2,
        recent: ['12:00:01 tool-call note_progress {"note":"step 2"}'],
      }),
    });
    messages.push({
      role: 'tool',
      tool_call_id: calls[1]!.id,
      content: JSON.stringify({ error: 'unknown task' }),
    });
    const summary = (await complete(client, 'streaming', messages, parentTools)).choices[0]!.message.content!;
    expect(summary).toContain('`t_7k2m9q` is running: 2 steps, 4.2 s');
    expect(summary).toContain('check_task failed: unknown task');
  });

  it('asks check_task about the tasks it started earlier when the status question names none', async () => {
    const messages: ChatCompletionMessageParam[] = [
      parentSystem,
      { role: 'user', content: 'write a haiku' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'delegate_task_async', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '{"task_id":"t_abcd23","status":"queued"}' },
      { role: 'assistant', content: '[demo model] started' },
      { role: 'user', content: 'what is the status?' },
    ];
    const checking = await complete(client, 'plain', messages, parentTools);
    expect(toolCallsOf(checking).map((call) => [call.name, call.arguments])).toEqual([
      ['check_task', { task_id: 't_abcd23' }],
    ]);
  });

  it.each<Mode>(['plain', 'streaming'])(
    'runs a child for three note_progress steps, then lists the steering it received (%s)',
    async (mode) => {
      const goal = 'Research: compare Redis Streams and Kafka';
      const messages = childOpeningMessages(goal, 'for the ops team', [
        'note_progress',
      ]) as ChatCompletionMessageParam[];
      const notes: string[] = [];
      let final: ChatCompletion | undefined;
      for (let call = 1; call <= 6 && !final; call += 1) {
        const completion = await complete(client, mode, messages, childTools);
        const calls = toolCallsOf(completion);
        if (calls.length === 0) {
          final = completion;
          break;
        }
        messages.push(completion.choices[0]!.message as ChatCompletionMessageParam);
        for (const toolCall of calls) {
          expect(toolCall.name).toBe('note_progress');
          notes.push(toolCall.arguments.note);
          messages.push({ role: 'tool', tool_call_id: toolCall.id, content: '{"ok":true}' });
        }
        if (call === 1) {
          messages.push(
            steeringMessage({ id: '1-0', from: 'Ada', text: 'focus on ordering guarantees', at: 0 }),
          );
          messages.push(
            steeringMessage({ id: '2-0', from: 'Grace', text: 'keep it under 200 words', at: 0 }),
          );
        }
      }
      expect(notes).toHaveLength(3);
      expect(notes[0]).toMatch(/^step 1: /);
      expect(notes[1]).toContain('applying steering from Ada: "focus on ordering guarantees"');
      expect(notes[2]).toMatch(/^step 3: /);
      const summary = final!.choices[0]!.message.content!;
      expect(summary.startsWith('[demo model] ')).toBe(true);
      expect(summary).toContain(goal);
      expect(summary).toMatch(
        /Steering applied:\n- focus on ordering guarantees \(from Ada\)\n- keep it under 200 words \(from Grace\)/,
      );
    },
  );

  it('answers a child at once when it is offered no tools (its last allowed step)', async () => {
    const messages = childOpeningMessages('Draft: a release note', '', []) as ChatCompletionMessageParam[];
    const completion = await client.chat.completions.create({ model: 'baton-demo', messages });
    expect(completion.choices[0]!.message.tool_calls).toBeUndefined();
    expect(completion.choices[0]!.message.content).toContain('Steering applied:\n- none received');
  });

  it('drops the pending answer when the client aborts', async () => {
    const slow = await startDemoModelServer({ stepDelayMs: 30_000 });
    try {
      const slowClient = new OpenAI({ apiKey: 'ignored', baseURL: slow.baseURL, maxRetries: 0 });
      const controller = new AbortController();
      const messages = childOpeningMessages('Research: anything', '', [
        'note_progress',
      ]) as ChatCompletionMessageParam[];
      const call = slowClient.chat.completions.create(
        { model: 'baton-demo', messages, tools: childTools },
        { signal: controller.signal },
      );
      const settled = call.then(
        () => 'answered',
        (error: unknown) => error,
      );
      await eventually(async () => (slow.pendingReplies() === 1 ? true : undefined), 5000, 'pending reply');
      const startedAt = Date.now();
      controller.abort();
      expect(await settled).toBeInstanceOf(OpenAI.APIUserAbortError);
      expect(Date.now() - startedAt).toBeLessThan(5000);
      await eventually(async () => (slow.pendingReplies() === 0 ? true : undefined), 5000, 'timer cleared');
    } finally {
      await slow.close();
    }
  });

  it('refuses a request that is not a chat completion', async () => {
    const response = await fetch(`${demo.baseURL}/chat/completions`, {
      method: 'POST',
      body: '{"messages": 3}',
    });
    expect(response.status).toBe(400);
    const missing = await fetch(`${demo.baseURL}/embeddings`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
  });
});

describe('offline demo end to end with a real BatonRuntime', () => {
  const redis = useTestRedis();
  let demo: DemoModelServer;
  let runtime: BatonRuntime;
  const modelCalls: ModelCallRecord[] = [];
  const metrics = createMetrics({ processMetrics: false });

  beforeAll(async () => {
    demo = await startDemoModelServer({ stepDelayMs: 250 });
    const layer = mergeLayers(demoConfigLayer(demo.baseURL), {
      redis: { prefix: uniquePrefix('demo') },
      worker: { concurrency: 5, lock_duration_ms: 2000, stalled_interval_ms: 500, shutdown_grace_s: 1 },
      log: { level: 'silent' },
    }) as Record<string, unknown>;
    runtime = new BatonRuntime({
      config: buildTestConfig(layer),
      redisUrl: redis.url,
      logger: createSilentLogger(),
      env: testEnv(),
      onModelCall: (record) => {
        modelCalls.push(record);
        metrics.recordModelCall(record);
      },
      extraToolsets: { [demoToolsetName]: createDemoTools },
    });
    await runtime.start();
    await runtime.startWorker();
  });
  afterAll(async () => {
    await runtime?.close(0);
    await demo?.close();
  });

  async function parentTurn(userText: string): Promise<string> {
    return runAgentLoop(
      {
        messages: [parentSystem as { role: 'system'; content: string }, { role: 'user', content: userText }],
        steps: 0,
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      },
      {
        model: runtime.model,
        route: 'default',
        tools: runtime.parentTools(),
        toolContext: parentContext(),
        toolTimeoutMs: 30_000,
        maxIterations: 5,
      },
    );
  }

  it('delegates two children that complete, and a steer sent mid-flight shows in the summary', async () => {
    const caller = testCaller();
    const reply = await parentTurn('summarise the incident from last night');
    const tasks = (await runtime.service.list(caller)).map((listed) => listed.record);
    expect(tasks).toHaveLength(2);
    const research = tasks.find((task) => task.goal.startsWith('Research: '))!;
    const draft = tasks.find((task) => task.goal.startsWith('Draft: '))!;
    expect(research.goal).toBe('Research: summarise the incident from last night');
    expect(research.toolsets).toEqual(['demo']);
    expect(reply).toContain(research.id);
    expect(reply).toContain(draft.id);

    await eventually(
      async () => {
        const record = await runtime.store.get(research.id);
        return record && record.status === 'running' && record.steps >= 1 ? true : undefined;
      },
      10_000,
      'research child past its first step',
    );
    await runtime.service.steer(caller, research.id, 'list the timeline first');
    const { records, timedOut } = await runtime.service.waitForEnd([research.id, draft.id], 20_000);
    expect(timedOut).toBe(false);
    const [researched, drafted] = records;
    expect(researched!.status).toBe('completed');
    expect(drafted!.status).toBe('completed');
    expect(researched!.summary).toContain('Steering applied:\n- list the timeline first (from Ada)');
    expect(drafted!.summary).toContain('Steering applied:\n- none received');
    // Three note_progress steps and the final answer (one more if the steer met the answer in flight).
    expect([4, 5]).toContain(researched!.steps);
    expect(researched!.usage.total_tokens).toBeGreaterThan(0);
    const events = await runtime.store.recentEvents(research.id, 100);
    expect(events.filter((event) => event.type === 'steer-applied')).toHaveLength(1);
    expect(
      events.filter((event) => event.type === 'tool-call' && event.text.startsWith('note_progress')),
    ).toHaveLength(3);

    const status = await parentTurn(`how is ${research.id} doing?`);
    expect(status).toContain(`\`${research.id}\` is completed: ${researched!.steps} steps`);

    // Two parent calls per turn and one per child step, every one through the real client and reported.
    const expectedCalls = 4 + researched!.steps + drafted!.steps;
    expect(modelCalls).toHaveLength(expectedCalls);
    expect(modelCalls.every((call) => call.outcome === 'ok' && call.model === 'baton-demo')).toBe(true);
    expect(await metrics.render()).toContain(
      `baton_model_call_duration_seconds_count{route="default",outcome="ok"} ${expectedCalls}`,
    );
  });
});
