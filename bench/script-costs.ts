/**
 * `node --import tsx bench/script-costs.ts`: what the task scripts of a one-step child cost, alone. Runs
 * `count` tasks (default 8,000; BENCH_SCRIPT_TASKS) straight through TaskStore on a private redis-server:
 * admit (batches of 50, 4 in flight), claim, complete with its model call's usage (50 at a time), and prints
 * the redis-server CPU (/proc/<pid>/stat) and this process's CPU (process.cpuUsage) per task for each.
 * No model, no queue, no signals: the figures bench/README.md gives per script. Clock ticks are 10 ms, so
 * use thousands of tasks; on a shared machine compare runs made one after the other.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { RedisKeys } from '../src/redis/redis-keys.ts';
import type { TaskRecord } from '../src/tasks/task-record.ts';
import { TaskStore } from '../src/tasks/task-store.ts';
import { UsageLedger } from '../src/usage/usage-ledger.ts';
import { benchOrigin } from './support.ts';

const count = Number(process.env.BENCH_SCRIPT_TASKS ?? 8000);
const batchSize = 50;
const concurrency = 50;
const text = 'Done: the in-memory model finished the task.';

function serverCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-script-costs-'));
const server = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
const redis = createRedisConnection(server.url, { connectionName: 'script-costs' });
try {
  const keys = new RedisKeys('script-costs');
  const store = new TaskStore({ redis, keys, maxEventsPerTask: 500 });
  const ledger = new UsageLedger(redis, keys);

  const measure = async (label: string, work: () => Promise<void>) => {
    const serverBefore = serverCpuMs(server.pid);
    const processBefore = process.cpuUsage();
    await work();
    const used = process.cpuUsage(processBefore);
    const serverUs = ((serverCpuMs(server.pid) - serverBefore) * 1000) / count;
    const processUs = (used.user + used.system) / count;
    process.stdout.write(
      `${label.padEnd(24)} redis-server ${serverUs.toFixed(1).padStart(6)} µs/task   ` +
        `this process ${processUs.toFixed(1).padStart(6)} µs/task\n`,
    );
  };
  const eachTask = async (records: TaskRecord[], step: (record: TaskRecord) => Promise<unknown>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < records.length) await step(records[next++]!);
      }),
    );
  };

  const records: TaskRecord[] = [];
  await measure('admit (batches of 50)', async () => {
    const inFlight: Promise<void>[] = [];
    for (let batch = 0; batch < count / batchSize; batch += 1) {
      const admitted = store.admit({
        sessionKey: 'bench:script-costs:th1',
        origin: benchOrigin,
        parent: null,
        tasks: Array.from({ length: batchSize }, (_, index) => ({
          goal: `child ${batch}.${index}`,
          context: '',
          toolsets: [],
          route: 'default',
          role: 'leaf' as const,
        })),
        maxActiveTasksPerConversation: Number.MAX_SAFE_INTEGER,
      });
      inFlight.push(admitted.then((result) => void records.push(...result.records)));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
  });
  await measure('claim', () =>
    eachTask(records, (record) =>
      store.claim(record.id, `runner-${record.id}`, { firstStepEvent: 'step 1' }),
    ),
  );
  await measure('complete (with usage)', () =>
    eachTask(records, (record) =>
      store.complete(
        record,
        `runner-${record.id}`,
        {
          inboxCursor: '0-0',
          summary: text,
          fullText: text,
          steps: 1,
          usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        },
        ledger.write(
          {
            platform: benchOrigin.platform,
            channel: benchOrigin.channel,
            user: benchOrigin.user,
            taskId: record.id,
          },
          'default',
          { input: 0, cached: 0, output: 0, cost: 0, calls: 1 },
        ),
      ),
    ),
  );
  await measure('PING (for scale)', () => eachTask(records, () => redis.ping()));
} finally {
  redis.disconnect();
  await server.stop();
  rmSync(directory, { recursive: true, force: true });
}
process.exit(0);
