import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { executeToolCall } from '../../src/agent/execute-tool-call.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { defineTool } from '../../src/tools/tool.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, parentContext, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Proof for issue 2 rows with no test of their own: the per-tool time limit, an unknown toolset refused
 * at dispatch, the summary cap of delegation.max_summary_chars with the full text kept, and every Redis
 * key under the configured prefix. One runtime for the file, so the key check sees all it wrote.
 */

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let prefix: string;
const caller = testCaller('proof-limits');
let toolStarted = 0;

beforeAll(async () => {
  const layer = testConfigLayer(fake, { delegation: { tool_timeout_s: 1, max_summary_chars: 80 } });
  prefix = (layer.redis as { prefix: string }).prefix;
  runtime = await startRuntime(buildTestConfig(layer));
  // A tool that never settles and ignores its signal: only the per-tool limit can end it.
  runtime.toolsets.register('proof_slow', () => [
    defineTool({
      name: 'wait_forever',
      description: 'Never returns.',
      inputSchema: z.object({}),
      execute: () => {
        toolStarted += 1;
        return new Promise(() => {});
      },
    }),
  ]);
  await runtime.startWorker();
});

const requestsFor = (goal: string) => fake.requests.filter((request) => goalOf(request) === goal);

describe('child limits', () => {
  it('ends a tool call at delegation.tool_timeout_s with a JSON error, and the child goes on', async () => {
    fake.setHandler(
      scriptByGoal({
        'call a slow tool': (_request, call) =>
          call === 1 ? toolCallReply([{ name: 'wait_forever', arguments: {} }]) : textReply('went on'),
      }),
    );
    const started = Date.now();
    const [task] = await runtime.service.dispatch(caller, [
      { goal: 'call a slow tool', toolsets: ['proof_slow'] },
    ]);
    const { records, timedOut } = await runtime.service.waitForEnd([task!.id], 15_000);
    expect(timedOut).toBe(false);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toBe('went on');
    expect(toolStarted).toBe(1);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(10_000);
    const [, second] = requestsFor('call a slow tool');
    expect(toolResultsOf(second!)).toEqual([{ error: 'wait_forever timed out after 1 s' }]);
  });

  it('refuses an unknown toolset at dispatch with a JSON error, storing nothing', async () => {
    const sessionKey = 'test:c1:unknown-toolset';
    const tools = new Map(runtime.parentTools().map((tool) => [tool.name, tool]));
    const before = await runtime.store.listSession(sessionKey);
    const outcome = await executeToolCall(
      {
        id: 'call_unknown_toolset',
        type: 'function',
        function: {
          name: 'delegate_task_async',
          arguments: JSON.stringify({ goal: 'x', toolsets: ['no_such_toolset'] }),
        },
      },
      tools,
      parentContext(sessionKey),
      10_000,
    );
    expect(outcome.ok).toBe(false);
    const error = String((JSON.parse(outcome.content) as { error: string }).error);
    expect(error).toMatch(/unknown toolset\(s\): no_such_toolset/);
    expect(error).toMatch(/available: .*web/);
    expect(before).toHaveLength(0);
    expect(await runtime.store.listSession(sessionKey)).toHaveLength(0);
    expect(await runtime.store.activeCount(sessionKey)).toBe(0);
  });

  it('cuts the summary near delegation.max_summary_chars and keeps the full text', async () => {
    const longAnswer = `${'All findings in detail. '.repeat(20)}THE END`;
    fake.setHandler(scriptByGoal({ 'write a long answer': () => textReply(longAnswer) }));
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'write a long answer' }]);
    const { records } = await runtime.service.waitForEnd([task!.id], 15_000);
    expect(records[0]!.status).toBe('completed');
    // The marker counts toward the cap: exactly delegation.max_summary_chars, never more.
    expect(records[0]!.summary!.length).toBe(80);
    expect(records[0]!.summary).toMatch(/^All findings in detail\./);
    expect(records[0]!.summary).toMatch(/full text kept on the task\]$/);
    expect(records[0]!.summary).not.toContain('THE END');
    expect(await runtime.store.fullSummary(task!.id)).toBe(longAnswer);
    // The child's model saw the goal, not the cap: one call only.
    expect(requestsFor('write a long answer')).toHaveLength(1);
    expect(messagesOf(requestsFor('write a long answer')[0]!)[0]!.role).toBe('system');
  });

  it('writes every Redis key (BullMQ queues included) under the configured prefix', async () => {
    const keys = await redis.client.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    // The queue's keys are there, so BullMQ is covered too.
    expect(keys.some((key) => /:(wait|completed|meta|id|events|stalled-check)$/.test(key))).toBe(true);
    expect(keys.filter((key) => !key.startsWith(`${prefix}:`))).toEqual([]);
  });
});
