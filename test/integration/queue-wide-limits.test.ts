import { describe, expect, it } from 'vitest';
import { createDemoTools, demoToolsetName } from '../../src/demo/demo-toolset.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { hangReply, type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });

async function runtimeWith(layer: Record<string, unknown>, workers: number): Promise<BatonRuntime[]> {
  const started: BatonRuntime[] = [];
  for (let index = 0; index < workers; index += 1) {
    const runtime = await startRuntime(buildTestConfig(layer));
    // The demo's effect-free note_progress stands in for any tool (only `baton start --demo` registers it).
    runtime.toolsets.register(demoToolsetName, createDemoTools);
    await runtime.startWorker();
    started.push(runtime);
  }
  return started;
}

const requestsFor = (prefix: string): RecordedRequest[] =>
  fake.requests.filter((request) => goalOf(request)?.startsWith(prefix));

describe('limits that hold across workers', () => {
  it('runs at most worker.global_concurrency children at once across all workers', async () => {
    const layer = testConfigLayer(fake, { worker: { concurrency: 5, global_concurrency: 2 } });
    const [first] = await runtimeWith(layer, 2);
    fake.setHandler((request) => (goalOf(request)?.startsWith('global ') ? hangReply() : undefined));
    const tasks = await first!.service.dispatch(
      testCaller('global'),
      Array.from({ length: 5 }, (_, index) => ({ goal: `global ${index}` })),
    );
    await eventually(async () => (requestsFor('global ').length === 2 ? true : undefined), 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(requestsFor('global ')).toHaveLength(2);
    const statuses = (await first!.store.getMany(tasks.map((task) => task.id))).map(
      (record) => record!.status,
    );
    expect(statuses.filter((status) => status === 'running')).toHaveLength(2);
    // Ending one lets exactly one more start.
    await first!.service.cancel(
      testCaller('global'),
      tasks.find((_task, index) => statuses[index] === 'running')!.id,
    );
    await eventually(async () => (requestsFor('global ').length === 3 ? true : undefined), 10_000);
  });

  it('starts at most worker.start_rate_max children per window across all workers', async () => {
    const layer = testConfigLayer(fake, { worker: { start_rate_max: 2, start_rate_window_ms: 1000 } });
    const [first] = await runtimeWith(layer, 2);
    fake.setHandler((request) => (goalOf(request)?.startsWith('rate ') ? textReply('done') : undefined));
    const began = Date.now();
    const tasks = await first!.service.dispatch(
      testCaller('rate'),
      Array.from({ length: 5 }, (_, index) => ({ goal: `rate ${index}` })),
    );
    const { records } = await first!.service.waitForEnd(
      tasks.map((task) => task.id),
      20_000,
    );
    expect(records.every((record) => record.status === 'completed')).toBe(true);
    // Five starts at two per second need at least two full windows after the first two.
    expect(Date.now() - began).toBeGreaterThanOrEqual(1900);
    const starts = records.map((record) => record.startedAt!).sort((a, b) => a - b);
    for (let index = 2; index < starts.length; index += 1) {
      // Two starts per 1 s window: a third can only follow in a later window (lenient for a loaded machine).
      expect(starts[index]! - starts[index - 2]!).toBeGreaterThanOrEqual(600);
    }
  });

  it('asks a child for its final answer, without tools, once its token budget is spent', async () => {
    const layer = testConfigLayer(fake, { delegation: { max_tokens_per_task: 100 } });
    const [first] = await runtimeWith(layer, 1);
    fake.setHandler(
      scriptByGoal({
        'budgeted work': (_request, call) =>
          call === 1
            ? toolCallReply([{ name: 'missing', arguments: {} }], {
                usage: { prompt_tokens: 70, completion_tokens: 40 },
              })
            : textReply('final within budget'),
      }),
    );
    const [task] = await first!.service.dispatch(testCaller('budget'), [
      { goal: 'budgeted work', toolsets: [demoToolsetName] },
    ]);
    const { records } = await first!.service.waitForEnd([task!.id], 10_000);
    expect(records[0]).toMatchObject({ status: 'completed', summary: 'final within budget', steps: 2 });
    const [first_, second] = fake.requests.filter((request) => goalOf(request) === 'budgeted work');
    // The demo toolset's tool and ask_user, which every child has.
    expect(first_!.body?.tools).toHaveLength(2);
    expect(second!.body?.tools).toBeUndefined();
    expect(String(messagesOf(second!).at(-1)?.content)).toContain('used your token budget');
  });

  it('ends a child at delegation.max_iterations with one last call for its final answer', async () => {
    const layer = testConfigLayer(fake, { delegation: { max_iterations: 3 } });
    const [first] = await runtimeWith(layer, 1);
    fake.setHandler(
      scriptByGoal({
        // Would call tools forever if the loop let it.
        'endless work': (request) =>
          request.body?.tools
            ? toolCallReply([{ name: 'note_progress', arguments: { note: 'again' } }])
            : textReply('stopped at the limit'),
      }),
    );
    const [task] = await first!.service.dispatch(testCaller('iterations'), [
      { goal: 'endless work', toolsets: [demoToolsetName] },
    ]);
    const { records } = await first!.service.waitForEnd([task!.id], 10_000);
    expect(records[0]).toMatchObject({ status: 'completed', summary: 'stopped at the limit', steps: 3 });
    const requests = fake.requests.filter((request) => goalOf(request) === 'endless work');
    expect(requests).toHaveLength(3);
    expect(String(messagesOf(requests[2]!).at(-1)?.content)).toContain('reached your step limit');
  });

  it('times a child out at delegation.child_timeout_s, aborting its model call, with the reason', async () => {
    const layer = testConfigLayer(fake, { delegation: { child_timeout_s: 0.5 } });
    const [first] = await runtimeWith(layer, 1);
    fake.setHandler(scriptByGoal({ 'too slow': () => hangReply() }));
    const [task] = await first!.service.dispatch(testCaller('timeout'), [{ goal: 'too slow' }]);
    const { records } = await first!.service.waitForEnd([task!.id], 10_000);
    expect(records[0]!.status).toBe('timed_out');
    expect(records[0]!.error).toMatch(/child_timeout_s \(0.5 s\)/);
    await eventually(async () =>
      fake.requests.find((request) => goalOf(request) === 'too slow')?.aborted ? true : undefined,
    );
  });
});
