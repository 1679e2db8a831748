import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { maxToolCallStarts, runAgentLoop } from '../../src/agent/agent-loop.ts';
import type { BatonConfig } from '../../src/config/schema.ts';
import type { ChatMessage } from '../../src/llm/model-client.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { defineTool, type Tool } from '../../src/tools/tool.ts';
import { type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  buildTestConfig,
  createTestRuntime,
  eventually,
  parentContext,
  testCaller,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { goalOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const caller = testCaller();

/**
 * Probe tools: each counts its starts per `key`, and hangs on the starts listed for that key in `hangOn`
 * (a stalled worker: the call never finishes), or answers. One is retry-safe, one (like a terminal
 * command) is not.
 */
function probeTools(starts: Map<string, number>, hangOn: Record<string, number[]>): Tool[] {
  const probe = (name: string, retrySafe: boolean): Tool =>
    defineTool({
      name,
      description: 'Test probe.',
      inputSchema: z.object({ key: z.string() }),
      ...(retrySafe ? { retrySafe } : {}),
      async execute(input: { key: string }) {
        const start = (starts.get(input.key) ?? 0) + 1;
        starts.set(input.key, start);
        if (hangOn[input.key]?.includes(start)) await new Promise(() => {});
        return { key: input.key, start };
      },
    });
  return [probe('probe_safe', true), probe('probe_unsafe', false)];
}

const dying: BatonRuntime[] = [];
afterEach(() => {
  // Killed runtimes stand for dead processes: they are not shut down, only forgotten.
  dying.length = 0;
});

async function workerRuntime(config: BatonConfig, tools: Tool[], owned: boolean): Promise<BatonRuntime> {
  const runtime = owned ? await startRuntime(config) : await createTestRuntime(redis.url, config);
  runtime.toolsets.register('probes', () => tools);
  await runtime.startWorker();
  if (!owned) dying.push(runtime);
  return runtime;
}

const requestsFor = (goal: string): RecordedRequest[] =>
  fake.requests.filter((request) => goalOf(request) === goal);

describe('tool calls interrupted mid-call', () => {
  it('are reported to the model unless retry-safe, and a retry-safe call is started at most twice', async () => {
    const config = buildTestConfig(testConfigLayer(fake, { worker: { lock_duration_ms: 1000 } }));
    const starts = new Map<string, number>();
    // 'unsafe' and 'safe-once' hang on their first start only; 'safe-always' hangs every time.
    const tools = probeTools(starts, { unsafe: [1], 'safe-once': [1], 'safe-always': [1, 2, 3] });
    const callOnce = (name: string, key: string) => (_request: RecordedRequest, call: number) =>
      call === 1 ? toolCallReply([{ name, arguments: { key } }]) : textReply(`${key} done`);
    fake.setHandler(
      scriptByGoal({
        'run a command': callOnce('probe_unsafe', 'unsafe'),
        'read once': callOnce('probe_safe', 'safe-once'),
        'read forever': callOnce('probe_safe', 'safe-always'),
      }),
    );
    const first = await workerRuntime(config, tools, false);
    const tasks = await first.service.dispatch(caller, [
      { goal: 'run a command', toolsets: ['probes'] },
      { goal: 'read once', toolsets: ['probes'] },
      { goal: 'read forever', toolsets: ['probes'] },
    ]);
    const [unsafeTask, onceTask, foreverTask] = tasks.map((task) => task.id);
    await eventually(async () => (starts.size === 3 ? true : undefined), 15_000);
    // The worker dies in the middle of all three calls.
    first.killConnections();

    const second = await workerRuntime(config, tools, false);
    const { records } = await second.service.waitForEnd([unsafeTask!, onceTask!], 30_000);
    expect(records.map((record) => record.status)).toEqual(['completed', 'completed']);
    // Not retry-safe: never run again; the model is told the call was interrupted.
    expect(starts.get('unsafe')).toBe(1);
    expect(toolResultsOf(requestsFor('run a command')[1]!)).toEqual([
      {
        error: expect.stringMatching(
          /^the call was interrupted \(the worker stopped mid-call\); it was not run again/,
        ),
      },
    ]);
    // Retry-safe: run again once, and its result reached the model.
    expect(starts.get('safe-once')).toBe(2);
    expect(toolResultsOf(requestsFor('read once')[1]!)).toEqual([{ key: 'safe-once', start: 2 }]);
    // The forever-hanging call was started again too, and hangs on this worker as well: it dies.
    await eventually(async () => (starts.get('safe-always') === 2 ? true : undefined), 15_000);
    second.killConnections();

    const third = await workerRuntime(config, tools, true);
    const [forever] = (await third.service.waitForEnd([foreverTask!], 30_000)).records;
    expect(forever!.status).toBe('completed');
    expect(starts.get('safe-always')).toBe(maxToolCallStarts);
    expect(toolResultsOf(requestsFor('read forever')[1]!)).toEqual([
      { error: expect.stringMatching(/^the call was interrupted 2 times/) },
    ]);
  });

  it('an approved call interrupted mid-call is not run again after the approval (not retry-safe)', async () => {
    const config = buildTestConfig(
      testConfigLayer(fake, {
        worker: { lock_duration_ms: 1000 },
        approvals: { required_for: ['probe_unsafe'] },
      }),
    );
    const starts = new Map<string, number>();
    const tools = probeTools(starts, { approved: [1] });
    fake.setHandler(
      scriptByGoal({
        'approved command': (_request, call) =>
          call === 1
            ? toolCallReply([{ name: 'probe_unsafe', arguments: { key: 'approved' } }])
            : textReply('done'),
      }),
    );
    const first = await workerRuntime(config, tools, false);
    const [task] = await first.service.dispatch(caller, [{ goal: 'approved command', toolsets: ['probes'] }]);
    await eventually(async () =>
      (await first.store.get(task!.id))?.status === 'waiting_approval' ? true : undefined,
    );
    expect(starts.get('approved')).toBeUndefined();
    await first.service.decide(caller, task!.id, true);
    await eventually(async () => (starts.get('approved') === 1 ? true : undefined), 15_000);
    // The worker dies in the middle of the approved call.
    first.killConnections();
    const second = await workerRuntime(config, tools, true);
    const [record] = (await second.service.waitForEnd([task!.id], 30_000)).records;
    expect(record!.status).toBe('completed');
    expect(starts.get('approved')).toBe(1);
    expect(toolResultsOf(requestsFor('approved command')[1]!)).toEqual([
      { error: expect.stringMatching(/^the call was interrupted \(the worker stopped mid-call\)/) },
    ]);
  });

  it('resumes a checkpoint written before starts were recorded as if each pending call started once', async () => {
    const runtime = await startRuntime();
    const starts = new Map<string, number>();
    fake.setHandler(() => textReply('resumed'));
    // A checkpoint of the old format: the model's tool calls saved, no toolCallStarts.
    const messages: ChatMessage[] = [
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_unsafe',
            type: 'function',
            function: { name: 'probe_unsafe', arguments: '{"key":"u"}' },
          },
          { id: 'call_safe', type: 'function', function: { name: 'probe_safe', arguments: '{"key":"s"}' } },
        ],
      },
    ];
    const state = { messages, steps: 0, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
    const saved: Array<Record<string, number> | undefined> = [];
    const reply = await runAgentLoop(state, {
      model: runtime.model,
      route: runtime.config.models.default_route,
      tools: probeTools(starts, {}),
      toolContext: parentContext(),
      toolTimeoutMs: 10_000,
      maxIterations: 5,
      hooks: {
        async onToolBatchStart(current) {
          saved.push({ ...current.toolCallStarts });
        },
      },
    });
    expect(reply).toBe('resumed');
    expect(starts.get('u')).toBeUndefined();
    expect(starts.get('s')).toBe(1);
    // The replay was recorded as the call's second start before it ran.
    expect(saved).toEqual([{ call_safe: 2 }]);
    const results = messages.filter((message) => message.role === 'tool').map((message) => message.content);
    expect(JSON.parse(String(results[0]))).toEqual({ error: expect.stringContaining('interrupted') });
    expect(JSON.parse(String(results[1]))).toEqual({ key: 's', start: 1 });
    expect(state).not.toHaveProperty('toolCallStarts');
  });
});
