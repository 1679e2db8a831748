import { beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { hangReply, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
const caller = testCaller('retention');

beforeAll(async () => {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake, { redis: { retention_days: 2 } })));
  await runtime.startWorker();
});

describe('retention of finished tasks', () => {
  it("keeps a completed task's checkpoint for the retention period, drops a cancelled one's, and lets the other keys expire", async () => {
    fake.setHandler(
      scriptByGoal({
        'two steps': (_request, call) =>
          call === 1 ? toolCallReply([{ name: 'missing', arguments: {} }]) : textReply('done'),
        'to cancel': () => hangReply(),
      }),
    );
    const [done, cancelled] = await runtime.service.dispatch(caller, [
      { goal: 'two steps' },
      { goal: 'to cancel' },
    ]);
    await eventually(async () =>
      (await runtime.store.get(cancelled!.id))?.status === 'running' ? true : undefined,
    );
    await runtime.service.cancel(caller, cancelled!.id);
    await runtime.service.waitForEnd([done!.id], 10_000);
    const keys = runtime.keys;
    const twoDays = 2 * 24 * 3600;
    expect(await redis.client.exists(keys.taskCheckpoint(cancelled!.id))).toBe(0);
    // A follow-up may reopen a completed task: its conversation expires with its record.
    expect(await redis.client.ttl(keys.taskCheckpoint(done!.id))).toBeGreaterThan(twoDays - 60);
    for (const taskId of [done!.id, cancelled!.id]) {
      const ttl = await redis.client.ttl(keys.task(taskId));
      expect(ttl).toBeGreaterThan(twoDays - 60);
      expect(ttl).toBeLessThanOrEqual(twoDays);
      expect(await redis.client.ttl(keys.taskEvents(taskId))).toBeGreaterThan(twoDays - 60);
    }
  });

  it('removes expired tasks from the session, channel and global indexes as they are read', async () => {
    fake.setHandler(scriptByGoal({ 'short lived': () => textReply('ok') }));
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'short lived' }]);
    await runtime.service.waitForEnd([task!.id], 10_000);
    // Expiry, as the retention period would do it.
    await redis.client.del(runtime.keys.task(task!.id));
    expect((await runtime.store.listSession(caller.sessionKey)).map((record) => record.id)).not.toContain(
      task!.id,
    );
    expect(await redis.client.zscore(runtime.keys.sessionTasks(caller.sessionKey), task!.id)).toBeNull();
    await runtime.store.listChannel('test', 'c1');
    expect(await redis.client.zscore(runtime.keys.channelTasks('test', 'c1'), task!.id)).toBeNull();
    await runtime.store.listRecent();
    expect(await redis.client.zscore(runtime.keys.allTasks(), task!.id)).toBeNull();
  });
});
