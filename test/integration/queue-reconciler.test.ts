import { beforeAll, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { QueueReconciler } from '../../src/worker/queue-reconciler.ts';
import { textReply } from '../fakes/fake-openai-server.ts';
import { scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;

beforeAll(async () => {
  runtime = await startRuntime();
});

describe('queue reconciler', () => {
  it('re-queues a task admitted without a job, once, and leaves enqueued and young tasks alone', async () => {
    fake.setHandler(
      scriptByGoal({
        'orphaned work': () => textReply('ran after all'),
        'normal work': () => textReply('ok'),
      }),
    );
    const origin = { platform: 'test', channel: 'c1', thread: 'orphans', user: 'u1' };
    // A dispatcher that died after admitting: the task exists, its job does not.
    const { records } = await runtime.store.admit({
      sessionKey: 'test:c1:orphans',
      origin,
      parent: null,
      tasks: [{ goal: 'orphaned work', context: '', toolsets: [], route: 'default', role: 'leaf' }],
      maxActiveTasksPerConversation: 8,
    });
    const orphan = records[0]!;
    const [normal] = await runtime.service.dispatch(
      { sessionKey: 'test:c1:orphans', origin, callerTaskId: null, depth: 0, displayName: 'Ada' },
      [{ goal: 'normal work' }],
    );
    const logger = createSilentLogger();
    const young = new QueueReconciler({
      store: runtime.store,
      queue: runtime.queue,
      logger,
      minimumAgeMs: 60_000,
    });
    expect(await young.reconcileOnce()).toEqual([]);
    const reconciler = new QueueReconciler({
      store: runtime.store,
      queue: runtime.queue,
      logger,
      minimumAgeMs: 0,
    });
    expect(await reconciler.reconcileOnce()).toEqual([orphan.id]);
    expect(await reconciler.reconcileOnce()).toEqual([]);
    await runtime.startWorker();
    const { records: ended } = await runtime.service.waitForEnd([orphan.id, normal!.id], 10_000);
    expect(ended.map((record) => record.status)).toEqual(['completed', 'completed']);
    expect(ended[0]!.summary).toBe('ran after all');
  });
});
