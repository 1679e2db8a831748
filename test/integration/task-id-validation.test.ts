import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { runParentTurn } from '../support/parent-turn.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, redis, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let monitored: string[];
let monitorConnection: Redis;

beforeEach(async () => {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake)));
  monitored = [];
  monitorConnection = new Redis(redis.url, { lazyConnect: true });
  const monitor = await monitorConnection.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => monitored.push(args.join(' ')));
  // MONITOR is live once a command of ours shows up in it.
  await eventually(async () => {
    await redis.client.ping('monitor-ready');
    return monitored.some((line) => line.includes('monitor-ready')) ? true : undefined;
  });
  monitorConnection = monitor;
});

afterEach(async () => {
  monitorConnection.disconnect();
});

// Ids a model may well invent: none is a task id, and none may be used as part of a Redis key.
const malformedIds = ['task-1', 't_zz*', `t_${'a'.repeat(40)}`, '../../secrets', 't_abc def'];

describe('task ids in the delegation tools', () => {
  it('refuses a malformed id with a clear message before any Redis access', async () => {
    const calls = malformedIds.flatMap((taskId) => [
      { name: 'check_task', arguments: { task_id: taskId } },
      { name: 'steer_task', arguments: { task_id: taskId, message: 'hi' } },
      { name: 'collect_task', arguments: { task_id: taskId, timeout_s: 1 } },
      { name: 'cancel_task', arguments: { task_id: taskId } },
    ]);
    const results = await runParentTurn(runtime, fake, calls);
    expect(results).toHaveLength(calls.length);
    for (const [index, result] of results.entries()) {
      expect(String(result.error)).toMatch(
        new RegExp(
          `invalid arguments for ${calls[index]!.name}: task_id: not a task id: task ids look like t_7k2m9q`,
        ),
      );
    }
    for (const taskId of malformedIds) {
      expect(monitored.filter((line) => line.includes(taskId))).toEqual([]);
    }
  });

  it('takes an id in capitals or with spaces around it as the id it spells', async () => {
    const [result] = await runParentTurn(runtime, fake, [
      { name: 'check_task', arguments: { task_id: ' T_ZZZZZZ ' } },
    ]);
    expect(String(result!.error)).toMatch(/no task with id "t_zzzzzz"/);
  });
});
