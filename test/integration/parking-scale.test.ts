import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { startRoutedGateway } from '../support/gateway-harness.ts';
import { goalOf, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 11: parked tasks hold no worker slot. 200 children ask a question with worker.concurrency 10: all
 * 200 reach waiting_input (none stuck behind a slot); every worker stops; all 200 are answered with no
 * worker running; one worker starts; all finish, each result posted once.
 */
const { fake, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

const count = 200;
const caller = testCaller('parking-thread');

describe('parking at scale', () => {
  it('200 children park with 10 worker slots, are answered with no worker, and finish on one worker', async () => {
    const config = buildTestConfig(
      testConfigLayer(fake, {
        delegation: { max_concurrent_children: count, max_parked_per_session: count, max_batch_size: 50 },
        quotas: {
          max_active_tasks_per_user: null,
          max_active_tasks_per_channel: null,
          max_active_tasks: null,
        },
        worker: { concurrency: 10 },
      }),
    );
    fake.setHandler((request) => {
      const goal = goalOf(request);
      if (goal === null) return undefined;
      const answer = toolResultsOf(request).at(-1) as { answer?: string } | undefined;
      return answer
        ? textReply(`result of ${goal}: ${answer.answer}.`)
        : toolCallReply([
            { name: 'ask_user', arguments: { question: `go on with ${goal}?`, choices: ['yes', 'no'] } },
          ]);
    });
    // The gateway's runtime runs no worker: it posts prompts and results throughout.
    const gatewayRuntime = await startRuntime(config);
    const { adapter } = await startRoutedGateway(gatewayRuntime);
    const firstWorkers: BatonRuntime[] = [await startRuntime(config)];
    for (const runtime of firstWorkers) await runtime.startWorker();

    const ids: string[] = [];
    for (let batch = 0; batch < count / 50; batch += 1) {
      const goals = Array.from({ length: 50 }, (_, index) => ({ goal: `child ${batch * 50 + index}` }));
      ids.push(...(await gatewayRuntime.service.dispatch(caller, goals)).map((record) => record.id));
    }
    const statuses = async () => (await gatewayRuntime.store.getMany(ids)).map((record) => record?.status);
    await eventually(
      async () => ((await statuses()).every((status) => status === 'waiting_input') ? true : undefined),
      120_000,
      'all 200 waiting for input',
    );
    expect(await gatewayRuntime.store.activeCount(caller.sessionKey)).toBe(0);
    expect(await gatewayRuntime.store.parkedCount(caller.sessionKey)).toBe(count);
    expect(await gatewayRuntime.queue.queue.getDelayedCount()).toBe(count);
    await eventually(
      async () =>
        adapter.posts.filter((post) => post.message.kind === 'prompt').length === count ? true : undefined,
      60_000,
      'a prompt per task',
    );

    for (const runtime of firstWorkers) await runtime.close(0);
    await Promise.all(ids.map((id) => gatewayRuntime.service.answer(caller, id, '#1')));
    expect((await statuses()).every((status) => status === 'queued')).toBe(true);
    expect(await gatewayRuntime.queue.queue.getWaitingCount()).toBe(count);

    const lastWorker = await startRuntime(config);
    await lastWorker.startWorker();
    const { records, timedOut } = await gatewayRuntime.service.waitForEnd(ids, 180_000);
    expect(timedOut).toBe(false);
    expect(records.every((record) => record.status === 'completed')).toBe(true);
    expect(records.every((record) => record.summary === `result of ${record.goal}: yes.`)).toBe(true);
    const resultPosts = () =>
      adapter.posts.filter(
        (post) => post.message.kind === 'text' && post.message.text.includes(' completed**'),
      );
    await eventually(async () => (resultPosts().length >= count ? true : undefined), 60_000, 'every result');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const perTask = new Map<string, number>();
    for (const post of resultPosts()) {
      const id = /Task (t_\w+) completed/.exec(post.message.kind === 'text' ? post.message.text : '')![1]!;
      perTask.set(id, (perTask.get(id) ?? 0) + 1);
    }
    expect(perTask.size).toBe(count);
    expect([...perTask.values()].every((posts) => posts === 1)).toBe(true);
    expect(adapter.posts.filter((post) => post.message.kind === 'prompt')).toHaveLength(count);
  }, 400_000);
});
