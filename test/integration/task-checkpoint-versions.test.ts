import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { defineTool } from '../../src/tools/tool.ts';
import { type RecordedRequest, textReply } from '../fakes/fake-openai-server.ts';
import { testCaller } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const caller = testCaller();

/**
 * Byte for byte what the previous version (before checkpoints carried a version) wrote for a child with
 * goal "read the two pages" and a retry-safe `probe` tool, captured from a real run: step 1 done, a steer
 * applied, and the tool batch of step 2 started (`toolCallStarts`) when its worker stopped.
 */
const previousVersionMidBatch = String.raw`{"messages":[{"role":"system","content":"You are a background worker agent. Someone handed you one goal; work on it on your own, then reply with\na final answer and no tool calls. Your final answer is all the requester sees, so make it complete and\nself-contained: what you found or did, with sources where you used them, and anything left undone.\nTools you may use: probe. Tool errors come back as {\"error\": ...}; adapt and go on.\nMessages that begin with [Steering message from ...] come from people overseeing your work while you run;\nfollow them, and they take precedence over your earlier plan.\n\nGoal:\nread the two pages"},{"role":"user","content":"Start working on the goal now."},{"role":"assistant","content":null,"tool_calls":[{"id":"call_0_0","type":"function","function":{"name":"probe","arguments":"{\"key\":\"first\"}"}}]},{"role":"tool","tool_call_id":"call_0_0","content":"{\"key\":\"first\"}"},{"role":"user","content":"[Steering message from Ada]: look at errors only"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1_0","type":"function","function":{"name":"probe","arguments":"{\"key\":\"hang\"}"}}]}],"steps":1,"usage":{"prompt_tokens":519,"completion_tokens":8,"total_tokens":527},"inboxCursor":"1796232907537-0","toolCallStarts":{"call_1_0":1}}`;
const steerIdInCheckpoint = '1796232907537-0';
const goal = 'read the two pages';

/** The `probe` toolset of the captured run; counts the starts of each key. */
function registerProbe(runtime: BatonRuntime, starts: Map<string, number>): void {
  runtime.toolsets.register('probes', () => [
    defineTool({
      name: 'probe',
      description: 'Test probe.',
      inputSchema: z.object({ key: z.string() }),
      retrySafe: true,
      async execute(input: { key: string }) {
        starts.set(input.key, (starts.get(input.key) ?? 0) + 1);
        return { key: input.key };
      },
    }),
  ]);
}

/**
 * A task in flight as an older worker left it: dispatched, claimed by that worker (which then stopped),
 * its checkpoint stored as `checkpointText`. The job is still queued for the next worker.
 */
async function taskLeftInFlight(
  runtime: BatonRuntime,
  taskGoal: string,
  checkpointText: string,
): Promise<string> {
  const [task] = await runtime.service.dispatch(caller, [{ goal: taskGoal, toolsets: ['probes'] }]);
  const claim = await runtime.store.claim(task!.id, 'old-worker:job-1', { firstStepEvent: 'step 1' });
  expect(claim.outcome).toBe('ok');
  await redis.client.set(runtime.store.keys.taskCheckpoint(task!.id), checkpointText);
  return task!.id;
}

const requestsFor = (taskGoal: string): RecordedRequest[] =>
  fake.requests.filter((request) => goalOf(request) === taskGoal);

describe('task checkpoint versions', () => {
  it('resumes a child checkpointed mid-batch by the previous version on an upgraded worker', async () => {
    const runtime = await startRuntime();
    const starts = new Map<string, number>();
    registerProbe(runtime, starts);
    fake.setHandler(scriptByGoal({ [goal]: () => textReply('both pages read') }));
    const taskId = await taskLeftInFlight(runtime, goal, previousVersionMidBatch);
    // The steer the checkpoint says was applied, where the old version's inbox held it.
    await redis.client.xadd(
      runtime.store.keys.taskInbox(taskId),
      steerIdInCheckpoint,
      'from',
      'Ada',
      'text',
      'look at errors only',
      'at',
      '1796232907537',
    );

    await runtime.startWorker();
    const { records, timedOut } = await runtime.service.waitForEnd([taskId], 30_000);
    expect(timedOut).toBe(false);
    expect(records[0]).toMatchObject({ status: 'completed', summary: 'both pages read', steps: 3 });
    // The interrupted call was retry-safe and started once: run again, and only it; step 1 was not redone.
    expect(Object.fromEntries(starts)).toEqual({ hang: 1 });
    // One model call, carrying the saved conversation, the replayed result, and the steer exactly once.
    const requests = requestsFor(goal);
    expect(requests).toHaveLength(1);
    const saved = JSON.parse(previousVersionMidBatch) as { messages: unknown[] };
    expect(messagesOf(requests[0]!)).toEqual([
      ...saved.messages,
      { role: 'tool', tool_call_id: 'call_1_0', content: '{"key":"hang"}' },
    ]);
  });

  it('ends a task whose checkpoint it cannot read, saying why, without calling the model or retrying', async () => {
    const runtime = await startRuntime();
    registerProbe(runtime, new Map());
    const newer = { ...JSON.parse(previousVersionMidBatch), version: 99 };
    const broken = { ...JSON.parse(previousVersionMidBatch), messages: 'not a conversation' };
    const newerId = await taskLeftInFlight(runtime, 'from the future', JSON.stringify(newer));
    const brokenId = await taskLeftInFlight(runtime, 'from a bad write', JSON.stringify(broken));
    const notJsonId = await taskLeftInFlight(runtime, 'cut short', '{"messages":[');

    await runtime.startWorker();
    const { records, timedOut } = await runtime.service.waitForEnd([newerId, brokenId, notJsonId], 30_000);
    expect(timedOut).toBe(false);
    expect(records.map((record) => record.status)).toEqual(['failed', 'failed', 'failed']);
    const [newerError, brokenError, notJsonError] = records.map((record) => record.error);
    expect(newerError).toMatch(
      /^the task's checkpoint cannot be read: it was written by a newer Baton \(checkpoint version 99; this worker reads up to 1\)/,
    );
    expect(brokenError).toMatch(
      /^the task's checkpoint cannot be read: it does not match checkpoint version 0 \(messages: /,
    );
    expect(notJsonError).toMatch(/^the task's checkpoint cannot be read: it is not JSON/);
    // Claimed once by the old worker and once by the new one: ended at once, not retried.
    expect(records.map((record) => record.attempts)).toEqual([2, 2, 2]);
    const goals = ['from the future', 'from a bad write', 'cut short'];
    expect(fake.requests.filter((request) => goals.includes(goalOf(request) ?? ''))).toEqual([]);
  });
});
