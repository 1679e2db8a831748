import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply } from '../fakes/fake-openai-server.ts';
import { testCaller } from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let monitor: Redis;
/** Commands clients sent to the server (those run inside Lua scripts left out), as [name, ...args]. */
const sent: string[][] = [];

const caller = testCaller();

/** Dispatches one-step children and resolves when all have ended, reading nothing (signals only). */
async function runChildren(goals: string[]): Promise<string[]> {
  const ids = new Set<string>();
  const allEnded = new Promise<void>((resolve) => {
    let endedCount = 0;
    const stop = runtime.signals.onAny((signal) => {
      if (signal.kind !== 'ended' || !ids.has(signal.taskId)) return;
      endedCount += 1;
      if (endedCount === goals.length) {
        stop();
        resolve();
      }
    });
  });
  const records = await runtime.service.dispatch(
    caller,
    goals.map((goal) => ({ goal })),
  );
  for (const record of records) ids.add(record.id);
  await allEnded;
  return [...ids];
}

beforeAll(async () => {
  fake.setHandler(() => textReply('Done.'));
  runtime = await startRuntime();
  await runtime.startWorker();
  // Loads the scripts (a first EVALSHA is answered NOSCRIPT and followed by EVAL).
  await runChildren(['warm-up']);
  monitor = await redis.client.duplicate().monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua') sent.push(args);
  });
});
afterAll(() => {
  monitor?.disconnect();
});

describe('a one-step child', () => {
  it('costs the worker two round trips of its own: the claim and the completion', async () => {
    const taskIds = await runChildren(['one', 'two', 'three']);
    // MONITOR is asynchronous: let the last commands arrive, then stop looking.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const seen = [...sent];

    for (const taskId of taskIds) {
      const taskKey = runtime.keys.task(taskId);
      // The admit (of the whole batch), the claim, the completion: all scripts; no read of the task, its
      // checkpoint or its inbox, no separate event write and no release.
      const touching = seen.filter((args) =>
        args.some((arg) => arg === taskKey || arg.startsWith(`${taskKey}:`)),
      );
      expect(touching.map((args) => args[0]!.toLowerCase())).toEqual(['evalsha', 'evalsha', 'evalsha']);
      const events = (await runtime.store.recentEvents(taskId, 10)).map(
        (event) => `${event.type}: ${event.text}`,
      );
      expect(events).toEqual([
        'status-change: queued',
        'status-change: queued -> running',
        'step-start: step 1',
        'status-change: running -> completed',
      ]);
      expect(await runtime.store.get(taskId)).toMatchObject({ status: 'completed', summary: 'Done.' });
      expect(await runtime.store.isHeldByRunner(taskId)).toBe(false);
    }
    // The model key's cool-down is read once for all three calls, not once per call.
    const cooldownReads = seen.filter((args) => args.some((arg) => arg.includes(':model-key-cooldown:')));
    expect(cooldownReads.length).toBeLessThanOrEqual(1);
  });
});
