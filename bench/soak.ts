/**
 * `npm run soak` (not part of `npm test` or `npm run bench`): many children over 3 worker processes while
 * things break, then a count of what was posted.
 *
 *   - a redis-server with AOF (everysec) that is restarted once (clean stop, start on the same data);
 *   - the fake model in its own process: 50–500 ms per call, 2% of calls answered 429 or 500;
 *   - one `baton gateway` (console on a fixed port), SIGKILLed twice and started again;
 *   - three `baton worker` processes (concurrency 20): every 20 s worker 2 or 3 (in turn) is SIGKILLed and
 *     started again, while worker 1 lives through the whole run, so that one worker's memory is watched over
 *     the whole soak (as is the gateway's last incarnation);
 *   - a retention period of `SOAK_RETENTION_S` (300 s): once every result is counted, the soak waits for it
 *     to pass, sweeps, and compares Redis with its baseline before the first dispatch.
 *
 * Children are dispatched from this process into console threads (100 children per thread), so their
 * results are delivered by the gateway to the console, where they are counted: each must be posted exactly
 * once. Figures go to bench/results.json as `soak_*` (other figures there are kept).
 *
 * Every Baton process runs with `NODE_OPTIONS=--max-old-space-size=1024`, as docker-compose.yml runs them
 * (`SOAK_NODE_OPTIONS` to change; empty for Node's defaults).
 *
 *   SOAK_CHILDREN=30000 SOAK_WORKER_KILL_S=20 SOAK_RETENTION_S=300 npm run soak
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deliveryQueueName } from '../src/gateway/delivery/delivery-service.ts';
import { findFreePort } from '../src/net/free-port.ts';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { taskIdPattern } from '../src/tasks/task-ids.ts';
import { childQueueName } from '../src/tasks/task-queue.ts';
import { botTexts, createConsoleThread } from '../test/support/console-client.ts';
import { startRestartableRedis } from '../test/support/restartable-redis.ts';
import {
  childEnvironment,
  type ManagedProcess,
  projectRoot,
  startProcess,
  startSoakModelProcess,
} from './processes.ts';
import {
  type BenchResult,
  benchActor,
  benchEnv,
  benchLayer,
  CleanupStack,
  figure,
  median,
  readRssMb,
  round,
  sleep,
  soakWorkerSettings,
  startRuntime,
  writeConfigFile,
} from './support.ts';

// 30,000 by default: with 10,000 a quiet machine is done in about 75 s, before any process has lived long
// enough (longLivedMs) for its memory to be compared with its level after warm-up.
const childCount = Number(process.env.SOAK_CHILDREN ?? 30_000);
const perThread = 100;
const workerKillEveryMs = Number(process.env.SOAK_WORKER_KILL_S ?? 20) * 1000;
const workerCount = 3;
const retentionSeconds = Number(process.env.SOAK_RETENTION_S ?? 300);
/** RSS is compared from this long after a process started (JIT, pools and caches warmed)… */
const warmUpMs = 30_000;
/** …in incarnations that lived at least this long; each level is the median of 20 one-second samples. */
const longLivedMs = 100_000;
const levelSamples = 20;
/** The Node options of every Baton process of the soak (SOAK_NODE_OPTIONS; default docker-compose.yml's). */
const soakNodeOptions = process.env.SOAK_NODE_OPTIONS ?? '--max-old-space-size=1024';
const log = (line: string) => process.stdout.write(`soak: ${line}\n`);

interface Role {
  name: string;
  command: 'gateway' | 'worker';
  process: ManagedProcess | null;
  /** RSS samples of the current incarnation: [ms since it started, MB]. */
  rss: Array<[number, number]>;
  startedAt: number;
  /** Each incarnation's RSS after warm-up and at its end, for those that lived long enough. */
  lifetimes: Array<{ warmMb: number; endMb: number; livedS: number }>;
}

async function main(): Promise<number> {
  const cleanup = new CleanupStack();
  process.once('SIGINT', () => void cleanup.run().finally(() => process.exit(130)));
  try {
    const redis = await startRestartableRedis({ appendfsync: 'everysec' });
    cleanup.add('remove redis', () => redis.destroy());
    const fake = await startSoakModelProcess();
    cleanup.add('stop fake model', () => fake.process.stop());
    const consolePort = await findFreePort();
    const layer = benchLayer('soak', fake.baseURL, {
      ...soakWorkerSettings,
      console: { enabled: true, port: consolePort },
      log: { level: 'warn' },
      redis: { retention_days: retentionSeconds / 86_400 },
    });
    const configFile = writeConfigFile(cleanup, layer, 'soak');
    const env = childEnvironment({
      ...benchEnv(),
      REDIS_URL: redis.url,
      BATON_CONFIG: configFile,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      // As docker-compose.yml runs them: with a heap limit under 2 GB, V8 grows the heap by at most 1.3–2x
      // what is live between full collections, not 4x, so RSS follows what a process holds (README, Memory).
      NODE_OPTIONS: soakNodeOptions,
    });
    const roles: Role[] = [
      { name: 'gateway', command: 'gateway', process: null, rss: [], startedAt: 0, lifetimes: [] },
      ...Array.from({ length: workerCount }, (_unused, index) => ({
        name: `worker ${index + 1}`,
        command: 'worker' as const,
        process: null,
        rss: [],
        startedAt: 0,
        lifetimes: [],
      })),
    ];
    // An incarnation's level after warm-up (the median of the 30 samples after it) against its level at its
    // end (the median of its last 30): single samples swing with the garbage collector.
    const endLifetime = (role: Role) => {
      const livedMs = Date.now() - role.startedAt;
      const warm = role.rss.filter(([atMs]) => atMs >= warmUpMs).slice(0, levelSamples);
      const last = role.rss.slice(-levelSamples);
      if (livedMs >= longLivedMs && warm.length === levelSamples)
        role.lifetimes.push({
          warmMb: median(warm.map(([, mb]) => mb)),
          endMb: median(last.map(([, mb]) => mb)),
          livedS: Math.round(livedMs / 1000),
        });
    };
    const start = async (role: Role) => {
      role.process = await startProcess({
        label: role.name,
        args: ['bin/baton.js', role.command],
        env,
        isReady: (line) => line.includes(role.command === 'gateway' ? 'gateway ready' : 'worker ready'),
        readyTimeoutMs: 120_000,
      });
      role.startedAt = Date.now();
      role.rss = [];
    };
    const kill = async (role: Role) => {
      endLifetime(role);
      const running = role.process;
      role.process = null;
      if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
      const exited = new Promise((resolve) => running.child.once('exit', resolve));
      running.child.kill('SIGKILL');
      await exited;
    };
    for (const role of roles) {
      await start(role);
      cleanup.add(`stop ${role.name}`, async () => {
        if (role.process) await role.process.stop(5000);
      });
    }
    const consoleUrl = `http://127.0.0.1:${consolePort}`;
    log(
      `redis ${redis.url}, console ${consoleUrl}, ${childCount} children, a worker killed every ${workerKillEveryMs / 1000} s`,
    );

    const metrics = createRedisConnection(redis.url);
    cleanup.add('disconnect', () => metrics.disconnect());
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await metrics.info('memory'))?.[1]);
    const baselineRedisBytes = await usedMemory();
    const baselineRedisKeys = await metrics.dbsize();

    // The children's threads, and the children, dispatched from here as a parent agent would.
    const dispatcher = await startRuntime(cleanup, redis.url, layer, 'soak dispatcher');
    const threads: string[] = [];
    for (let index = 0; index < childCount / perThread; index += 1)
      threads.push(await createConsoleThread(consoleUrl, `soak ${index}`));
    const ids: string[] = [];
    const startedAt = Date.now();
    for (const [threadIndex, thread] of threads.entries()) {
      const origin = {
        platform: 'console',
        channel: 'console',
        thread,
        user: benchActor.id,
        userName: 'Bench',
      };
      for (let start = 0; start < perThread; start += 50) {
        const records = await dispatcher.service.dispatch(
          {
            sessionKey: `console:console:${thread}`,
            origin,
            callerTaskId: null,
            depth: 0,
            displayName: 'Bench',
            actor: benchActor,
          },
          Array.from({ length: 50 }, (_unused, index) => ({
            goal: `soak child ${threadIndex * perThread + start + index}`,
          })),
        );
        for (const record of records) ids.push(record.id);
      }
    }
    log(`dispatched ${ids.length} children in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);

    // Faults, until every task has ended.
    const faults: string[] = [];
    let nextWorkerKill = Date.now() + workerKillEveryMs;
    let workerToKill = workerCount - 1;
    let gatewayKills = 0;
    let redisRestarted = false;
    let ended = 0;
    // Each task's status once it has ended: a finished record expires after the (short) retention period.
    const endedStatus = new Map<string, string>();
    let lastProgressAt = Date.now();
    const pending = new Set<Promise<void>>();
    let lastLogAt = Date.now();
    while (ended < ids.length) {
      await sleep(1000);
      for (const role of roles) {
        if (role.process) role.rss.push([Date.now() - role.startedAt, readRssMb(role.process.pid)]);
      }
      const open = ids.filter((id) => !endedStatus.has(id));
      const records = await dispatcher.store.getMany(open);
      records.forEach((record, index) => {
        if (record && ['completed', 'failed', 'cancelled', 'timed_out'].includes(record.status))
          endedStatus.set(open[index]!, record.status);
      });
      if (endedStatus.size > ended) lastProgressAt = Date.now();
      ended = endedStatus.size;
      const share = ended / ids.length;
      if (ended === ids.length) break;
      // A restart runs beside the loop (a process takes seconds to start): the schedule keeps its pace.
      const restart = (role: Role, what: string) => {
        const restarting = kill(role).then(() => start(role));
        pending.add(restarting);
        void restarting.finally(() => pending.delete(restarting));
        faults.push(`${what} at ${ended} ended`);
      };
      if (Date.now() >= nextWorkerKill) {
        const role = roles[workerToKill]!;
        if (role.process) restart(role, `${role.name} SIGKILLed and restarted`);
        // Workers 2 and 3 in turn; worker 1 is never killed (see the header).
        workerToKill = workerToKill === workerCount - 1 ? workerCount : workerCount - 1;
        nextWorkerKill = Date.now() + workerKillEveryMs;
      }
      if (
        roles[0]!.process &&
        ((gatewayKills === 0 && share >= 0.25) || (gatewayKills === 1 && share >= 0.6))
      ) {
        restart(roles[0]!, 'gateway SIGKILLed and restarted');
        gatewayKills += 1;
      }
      if (!redisRestarted && share >= 0.45) {
        await redis.stop('SIGTERM');
        await sleep(2000);
        await redis.start();
        redisRestarted = true;
        faults.push(`redis-server restarted at ${ended} ended`);
      }
      if (Date.now() - lastProgressAt > 180_000)
        throw new Error(`no task ended for 3 minutes (${ended} ended)`);
      if (Date.now() - lastLogAt > 15_000) {
        lastLogAt = Date.now();
        log(`${ended} of ${ids.length} ended`);
      }
    }
    await Promise.all(pending);
    const runSeconds = (Date.now() - startedAt) / 1000;
    log(`all ${ids.length} ended after ${runSeconds.toFixed(0)} s; faults: ${faults.join('; ')}`);

    // Every result posted exactly once: wait for the deliveries to drain, then count per thread.
    const counts = new Map<string, number>();
    const countPosted = async () => {
      counts.clear();
      for (const thread of threads) {
        for (const text of await botTexts(consoleUrl, thread))
          for (const [, goal] of text.matchAll(/result of (soak child \d+)\./g))
            counts.set(goal!, (counts.get(goal!) ?? 0) + 1);
      }
    };
    const drainDeadline = Date.now() + 180_000;
    do {
      await sleep(3000);
      await countPosted();
    } while (counts.size < ids.length && Date.now() < drainDeadline);
    await sleep(5000);
    await countPosted();
    const statuses = ids.map((id) => endedStatus.get(id) ?? 'missing');
    const completed = statuses.filter((status) => status === 'completed').length;
    const stuck = statuses.filter(
      (status) => status === 'queued' || status === 'running' || status === 'missing',
    ).length;
    const duplicates = [...counts.values()].filter((count) => count > 1).length;
    const lost = completed - [...counts.keys()].length;
    for (const role of roles) endLifetime(role);
    const countedAt = Date.now();
    const growth = roles.flatMap((role) =>
      role.lifetimes.map((life) => ({ name: role.name, ratio: life.endMb / life.warmMb, ...life })),
    );
    const worstGrowth = growth.length > 0 ? Math.max(...growth.map((life) => life.ratio)) : Number.NaN;
    const endRedisBytes = await usedMemory();

    // After retention: every record, event stream, delivery mark and console thread expires on its own; the
    // sweeper removes what still points at them. What is left is compared with the baseline, key family by
    // key family (ids folded into `*`).
    const retentionWaitMs = countedAt + retentionSeconds * 1000 + 5000 - Date.now();
    log(
      `waiting ${Math.round(retentionWaitMs / 1000)} s for the retention period (${retentionSeconds} s) to pass`,
    );
    await sleep(Math.max(0, retentionWaitMs));
    await dispatcher.sweeper.sweepOnce();
    const afterRetentionBytes = await usedMemory();
    const afterRetentionKeys = await metrics.dbsize();
    const families = await keyFamilies(metrics);
    const setUp =
      `${ids.length} children (one model call each: 50–500 ms, 2% 429/500) over ${workerCount} baton worker ` +
      `processes (concurrency 20) and one gateway delivering to ${threads.length} console threads` +
      `${soakNodeOptions ? ` (NODE_OPTIONS=${soakNodeOptions})` : ''}; faults: ` +
      `${faults.join('; ')}; ${round(runSeconds, 0)} s`;
    const results: BenchResult[] = [
      figure('soak_children', ids.length, 'children', { notes: setUp }),
      figure('soak_completed', completed, 'children', {
        notes: `${statuses.length - completed} ended otherwise`,
      }),
      figure('soak_posted_once', [...counts.values()].filter((count) => count === 1).length, 'results', {
        atLeast: completed,
        notes: 'distinct results posted exactly once in the console threads',
      }),
      figure('soak_duplicates', duplicates, 'results', { atMost: 0 }),
      figure('soak_lost', Math.max(0, lost), 'results', { atMost: 0, notes: 'completed but never posted' }),
      figure('soak_stuck', stuck, 'tasks', { atMost: 0, notes: 'queued, running or missing at the end' }),
      figure('soak_rss_growth_ratio_max', Number.isNaN(worstGrowth) ? 0 : worstGrowth, 'x', {
        // No goal to check when no process lived long enough (a short run).
        ...(growth.length > 0 ? { atMost: 1.1 } : {}),
        decimals: 3,
        notes: `RSS at the end of each incarnation that lived >= ${longLivedMs / 1000} s over its level after warm-up (medians of ${levelSamples} one-second samples from ${warmUpMs / 1000} s after start, and of its last ${levelSamples}): ${growth
          .map(
            (life) =>
              `${life.name} ${round(life.warmMb, 1)} -> ${round(life.endMb, 1)} MB in ${life.livedS} s`,
          )
          .join(
            ', ',
          )}${growth.length === 0 ? `NOT MEASURED: no process lived ${longLivedMs / 1000} s (the run took ${round(runSeconds, 0)} s); run more children (SOAK_CHILDREN)` : ''}`,
      }),
      figure('soak_redis_used_memory_growth_bytes', endRedisBytes - baselineRedisBytes, 'bytes', {
        notes:
          'INFO used_memory once every result was counted minus before the first dispatch (tasks retained)',
      }),
      figure('soak_redis_growth_after_retention_bytes', afterRetentionBytes - baselineRedisBytes, 'bytes', {
        notes:
          `INFO used_memory after the retention period (${retentionSeconds} s) passed and one sweep ran, ` +
          `minus before the first dispatch (${baselineRedisBytes} bytes, ${baselineRedisKeys} keys); keys left: ` +
          `${afterRetentionKeys}: ${families.summary}`,
      }),
      figure('soak_task_keys_after_retention', families.taskKeys, 'keys', {
        atMost: 0,
        notes:
          'keys naming a task left after the retention period and a sweep, outside the BullMQ job histories ' +
          '(those keep the last 1000 jobs of each queue whatever their age)',
      }),
    ];
    writeSoakResults(results);
    for (const result of results)
      log(
        `${result.name} = ${result.value} ${result.unit}${result.goal ? ` (goal ${result.goal}: ${result.met ? 'met' : 'MISSED'})` : ''}`,
      );
    // A run too short to watch memory proves nothing about it: said, and not a pass.
    if (growth.length === 0) log('RSS not measured: no process lived long enough; run more children');
    return results.every((result) => result.met !== false) && growth.length > 0 ? 0 : 1;
  } finally {
    await cleanup.run();
  }
}

/**
 * Every key, its ids folded into `*`, counted and sized per family (`family ×count (bytes)`, largest first),
 * and how many keys name a task outside BullMQ's job histories (which keep a fixed number of jobs).
 */
async function keyFamilies(
  redis: ReturnType<typeof createRedisConnection>,
): Promise<{ summary: string; taskKeys: number }> {
  const families = new Map<string, { count: number; bytes: number }>();
  let taskKeys = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const parts = key.split(':');
      const inQueue = parts.includes(childQueueName) || parts.includes(deliveryQueueName);
      if (!inQueue && parts.some((part) => taskIdPattern.test(part))) taskKeys += 1;
      const family = key
        .split(':')
        .map((part) => (taskIdPattern.test(part) || /\d/.test(part) || part.length > 24 ? '*' : part))
        .join(':');
      const bytes = Number((await redis.memory('USAGE', key)) ?? 0);
      const entry = families.get(family) ?? { count: 0, bytes: 0 };
      families.set(family, { count: entry.count + 1, bytes: entry.bytes + bytes });
    }
  } while (cursor !== '0');
  const summary = [...families]
    .sort(([, a], [, b]) => b.bytes - a.bytes)
    .map(([family, { count, bytes }]) => `${family} ×${count} (${bytes} B)`)
    .join(', ');
  return { summary, taskKeys };
}

/** Replaces the `soak_*` figures of bench/results.json, keeping the others. */
function writeSoakResults(results: BenchResult[]): void {
  const file = path.join(projectRoot, 'bench/results.json');
  const current = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResult[]) : [];
  const kept = current.filter((result) => !result.name.startsWith('soak_'));
  writeFileSync(file, `${JSON.stringify([...kept, ...results], null, 2)}\n`);
}

process.exit(await main());
