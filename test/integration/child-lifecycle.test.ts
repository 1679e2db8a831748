import { describe, expect, it } from 'vitest';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { testCaller } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });

describe('a child task', () => {
  it('runs as a BullMQ job through tool calls to a completed summary, with events and checkpoints', async () => {
    const runtime = await startRuntime();
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'count the files': (_request, call) =>
          call === 1
            ? toolCallReply([{ name: 'no_such_tool', arguments: {} }])
            : textReply('There are 3 files.', { usage: { prompt_tokens: 10, completion_tokens: 5 } }),
      }),
    );
    const [record] = await runtime.service.dispatch(testCaller(), [
      { goal: 'count the files', context: 'in /tmp' },
    ]);
    const { records, timedOut } = await runtime.service.waitForEnd([record!.id], 10_000);
    expect(timedOut).toBe(false);
    const done = records[0]!;
    expect(done.status).toBe('completed');
    expect(done.summary).toBe('There are 3 files.');
    expect(done.steps).toBe(2);
    expect(done.usage.total_tokens).toBeGreaterThan(0);
    const childRequests = fake.requests.filter((request) => goalOf(request) === 'count the files');
    expect(childRequests).toHaveLength(2);
    const system = String(messagesOf(childRequests[0]!)[0]!.content);
    expect(system).toContain('Goal:\ncount the files');
    expect(system).toContain('Context:\nin /tmp');
    const toolMessage = messagesOf(childRequests[1]!).find((message) => message.role === 'tool');
    expect(String(toolMessage?.content)).toContain('unknown tool');
    const events = await runtime.store.recentEvents(record!.id, 50);
    expect(events.map((event) => event.type)).toEqual(
      expect.arrayContaining(['status-change', 'step-start', 'tool-call', 'tool-result']),
    );
    expect(await runtime.store.activeCount('test:c1:th1')).toBe(0);
  });
});
