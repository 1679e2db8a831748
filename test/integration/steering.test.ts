import { describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { eventually, testCaller } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
let runtime: BatonRuntime;
const caller = testCaller();

async function newRuntime(): Promise<BatonRuntime> {
  runtime = await startRuntime();
  return runtime;
}

function requestsFor(goal: string): RecordedRequest[] {
  return fake.requests.filter((request) => goalOf(request) === goal);
}

/** The steering messages a request carried, in order. */
function steersIn(request: RecordedRequest): string[] {
  return messagesOf(request)
    .map((message) => String(message.content ?? ''))
    .filter((content) => content.startsWith('[Steering message from'));
}

async function waitUntilRunningWithRequest(goal: string, count: number): Promise<void> {
  await eventually(
    async () => (requestsFor(goal).length >= count ? true : undefined),
    10_000,
    `${goal} request`,
  );
}

describe('steering', () => {
  it('applies a steer sent while the child waits on the model at the next step boundary, once', async () => {
    await newRuntime();
    await runtime.startWorker();
    const release = deferred();
    fake.setHandler(
      scriptByGoal({
        'survey the logs': async (_request, call) => {
          if (call === 1) {
            await release.promise;
            return toolCallReply([{ name: 'missing_tool', arguments: {} }]);
          }
          return textReply('survey done');
        },
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'survey the logs' }]);
    await waitUntilRunningWithRequest('survey the logs', 1);
    await runtime.service.steer(caller, task!.id, 'only look at errors');
    release.resolve();
    const { records } = await runtime.service.waitForEnd([task!.id], 10_000);
    expect(records[0]!.status).toBe('completed');
    const [first, second] = requestsFor('survey the logs');
    expect(steersIn(first!)).toEqual([]);
    expect(steersIn(second!)).toEqual(['[Steering message from Ada]: only look at errors']);
    const events = await runtime.store.recentEvents(task!.id, 50);
    expect(events.filter((event) => event.type === 'steer-applied')).toHaveLength(1);
  });

  it('delivers a steer sent while the task is still queued before its first model call', async () => {
    await newRuntime();
    fake.setHandler(scriptByGoal({ 'queued goal': () => textReply('finished') }));
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'queued goal' }]);
    expect((await runtime.store.get(task!.id))!.status).toBe('queued');
    await runtime.service.steer(caller, task!.id, 'use British spelling');
    await runtime.startWorker();
    const { records } = await runtime.service.waitForEnd([task!.id], 10_000);
    expect(records[0]!.status).toBe('completed');
    const requests = requestsFor('queued goal');
    expect(requests).toHaveLength(1);
    expect(steersIn(requests[0]!)).toEqual(['[Steering message from Ada]: use British spelling']);
  });

  it('applies three steers in a row in order, each exactly once', async () => {
    await newRuntime();
    await runtime.startWorker();
    const release = deferred();
    fake.setHandler(
      scriptByGoal({
        'three steers': async (_request, call) => {
          if (call === 1) {
            await release.promise;
            return toolCallReply([{ name: 'missing_tool', arguments: {} }]);
          }
          if (call === 2) return toolCallReply([{ name: 'missing_tool', arguments: {} }]);
          return textReply('all three applied');
        },
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'three steers' }]);
    await waitUntilRunningWithRequest('three steers', 1);
    for (const text of ['first', 'second', 'third']) await runtime.service.steer(caller, task!.id, text);
    release.resolve();
    const { records } = await runtime.service.waitForEnd([task!.id], 10_000);
    expect(records[0]!.status).toBe('completed');
    const requests = requestsFor('three steers');
    expect(requests).toHaveLength(3);
    const expected = ['first', 'second', 'third'].map((text) => `[Steering message from Ada]: ${text}`);
    expect(steersIn(requests[1]!)).toEqual(expected);
    // Still once each in the later request: carried in history, never re-applied.
    expect(steersIn(requests[2]!)).toEqual(expected);
  });

  it('takes one more step when a steer arrives while the final answer is in flight', async () => {
    await newRuntime();
    await runtime.startWorker();
    const release = deferred();
    fake.setHandler(
      scriptByGoal({
        'almost done': async (_request, call) => {
          if (call === 1) {
            await release.promise;
            return textReply('first answer');
          }
          return textReply('answer with the steer');
        },
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'almost done' }]);
    await waitUntilRunningWithRequest('almost done', 1);
    await runtime.service.steer(caller, task!.id, 'also include the totals');
    release.resolve();
    const { records } = await runtime.service.waitForEnd([task!.id], 10_000);
    expect(records[0]!.summary).toBe('answer with the steer');
    const requests = requestsFor('almost done');
    expect(requests).toHaveLength(2);
    const secondMessages = messagesOf(requests[1]!).map(
      (message) => `${message.role}: ${String(message.content)}`,
    );
    expect(secondMessages.slice(-2)).toEqual([
      'assistant: first answer',
      'user: [Steering message from Ada]: also include the totals',
    ]);
  });

  it('queues a replayed steer_task call (same tool call id) only once', async () => {
    await newRuntime();
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'steer replay' }]);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await runtime.service.steer(caller, task!.id, 'only once please', { idempotencyKey: 'call_replayed' });
    }
    await runtime.service.steer(caller, task!.id, 'a different call', { idempotencyKey: 'call_other' });
    const inbox = await runtime.store.readInbox(task!.id, '0-0');
    expect(inbox.map((message) => message.text)).toEqual(['only once please', 'a different call']);
  });
});
