/**
 * How long may a worker's event loop be blocked before BullMQ loses a job's lock? A BullMQ worker with
 * Baton's default lock settings (worker.lock_duration_ms 3000, stalled_interval_ms 1000) holds jobs whose
 * locks were taken at times spread over a whole renewal cycle; then the loop is blocked once, for a given
 * time, and each job whose lock could not be renewed afterwards (`lockRenewalFailed`) counts as lost.
 *
 * BullMQ renews from a timer every lockRenewTime / 2 (750 ms by default), each lock once it is older than
 * lockRenewTime / 2, for lock_duration_ms: a lock is 750 to 1,500 ms old when renewed, so a block longer than
 * lock_duration_ms minus that age (1,500 to 2,250 ms) lets it expire.
 */
import { Queue, Worker } from 'bullmq';
import { batonConfigSchema } from '../src/config/schema.ts';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { type BenchContext, type BenchResult, benchPrefix, CleanupStack, figure, sleep } from './support.ts';

const blocksMs = [1000, 1250, 1500, 1750, 2000, 2500, 3000, 3500];
const jobsPerTrial = 10;
/** Jobs start this far apart, so their locks' ages at the block cover the renewal cycle. */
const staggerMs = 160;
/** After the block: time for the renewal timer to fire and report. */
const settleMs = 2500;

function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy: this is what a synchronous regular expression or html-to-text on a hostile page does.
  }
}

export async function benchLockRenewal(context: BenchContext): Promise<BenchResult[]> {
  const { lock_duration_ms: lockDuration, stalled_interval_ms: stalledInterval } = batonConfigSchema.parse(
    {},
  ).worker;
  const prefix = benchPrefix('lock');
  const rows: Array<{ blockMs: number; lost: number }> = [];
  for (const blockMs of blocksMs) {
    // A queue and worker of its own per trial: lost jobs of one trial cannot disturb the next.
    const lost = await runTrial(context.redisUrl, prefix, `bench-lock-${blockMs}`, blockMs, {
      lockDuration,
      stalledInterval,
    });
    rows.push({ blockMs, lost });
    context.log(`event loop blocked ${blockMs} ms: ${lost} of ${jobsPerTrial} locks lost`);
  }
  const firstLostIndex = rows.findIndex((row) => row.lost > 0);
  const firstLost = firstLostIndex === -1 ? Number.NaN : rows[firstLostIndex]!.blockMs;
  // The longest block below which no trial lost a lock.
  const safe = firstLostIndex === -1 ? rows.at(-1)!.blockMs : (rows[firstLostIndex - 1]?.blockMs ?? 0);
  const setUp =
    `one BullMQ worker, lockDuration ${lockDuration} ms and stalledInterval ${stalledInterval} ms (Baton's ` +
    `defaults), holding ${jobsPerTrial} jobs started ${staggerMs} ms apart, its event loop blocked once per ` +
    `trial; a lock counts as lost on lockRenewalFailed; locks lost per block: ` +
    rows.map((row) => `${row.blockMs} ms ${row.lost}/${jobsPerTrial}`).join(', ');
  return [
    figure('lock_safe_block_ms', safe, 'ms', {
      decimals: 0,
      notes: `${setUp}; the figure is the longest block that lost no lock, nor did any shorter one`,
    }),
    figure('lock_first_lost_block_ms', firstLost, 'ms', {
      decimals: 0,
      notes: `${setUp}; the figure is the shortest block that lost a lock`,
    }),
  ];
}

/** Holds `jobsPerTrial` jobs with locks of spread ages, blocks the loop once, and counts the locks lost. */
async function runTrial(
  redisUrl: string,
  prefix: string,
  queueName: string,
  blockMs: number,
  lockOptions: { lockDuration: number; stalledInterval: number },
): Promise<number> {
  const cleanup = new CleanupStack();
  try {
    const queueConnection = createRedisConnection(redisUrl, { connectionName: 'bench-lock-queue' });
    const workerConnection = createRedisConnection(redisUrl, { connectionName: 'bench-lock-worker' });
    cleanup.add('disconnect', () => {
      queueConnection.disconnect();
      workerConnection.disconnect();
    });
    const queue = new Queue(queueName, { connection: queueConnection, prefix });
    cleanup.add('close queue', () => queue.close());
    const release = new Map<string, () => void>();
    const worker = new Worker(
      queueName,
      // A job whose lock was lost may come back (stalled): it ends at once.
      async (job) => {
        if (release.has(job.id!)) return;
        await new Promise<void>((resolve) => release.set(job.id!, resolve));
      },
      { connection: workerConnection, prefix, concurrency: 2 * jobsPerTrial, ...lockOptions },
    );
    cleanup.add('close worker', () => worker.close(true));
    const lost = new Set<string>();
    worker.on('lockRenewalFailed', (jobIds: string[]) => {
      for (const id of jobIds) lost.add(id);
    });
    // 'could not renew lock' and 'Missing lock' errors repeat what lockRenewalFailed and the job say.
    worker.on('error', () => undefined);
    worker.on('failed', (job) => {
      if (job) lost.add(job.id!);
    });
    await worker.waitUntilReady();

    const ids: string[] = [];
    for (let index = 0; index < jobsPerTrial; index += 1) {
      const job = await queue.add('hold', {}, { removeOnComplete: true, removeOnFail: true });
      ids.push(job.id!);
      await sleep(staggerMs);
    }
    const startDeadline = Date.now() + 20_000;
    while (ids.some((id) => !release.has(id))) {
      if (Date.now() > startDeadline) {
        throw new Error(`only ${ids.filter((id) => release.has(id)).length} of ${jobsPerTrial} jobs started`);
      }
      await sleep(20);
    }
    blockEventLoop(blockMs);
    await sleep(settleMs);
    for (const id of ids) release.get(id)?.();
    await sleep(200);
    return ids.filter((id) => lost.has(id)).length;
  } finally {
    await cleanup.run();
  }
}
