import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';
import { KnownThreads } from '../sessions/known-threads.ts';
import {
  dropMissingScript,
  type ExpiryEntry,
  readExpiryEntry,
  releaseSweepLockScript,
  scheduleIndexedScript,
  trimEndingsScript,
  trimExpiredScript,
} from '../tasks/retention-scripts.ts';

export interface RetentionSweeperOptions {
  redis: Redis;
  keys: RedisKeys;
  /** How long finished tasks and idle threads are kept, in seconds (redis.retention_days). */
  retentionSeconds: number;
  logger: Logger;
  /** How often a sweep is tried, in ms (default 60 s); one process sweeps at a time. */
  intervalMs?: number;
}

/** What one sweep removed. */
export interface SweepReport {
  /** Finished tasks whose (expired) record was removed from the session, channel and global indexes. */
  tasksUnindexed: number;
  threadsForgotten: number;
  endingsTrimmed: number;
  /** Entries of older indexes dropped by the one-off pass over them (see backfill). */
  backfillDropped: number;
}

const batchSize = 500;
/** A sweep is bounded: what is left over waits for the next one. */
const maxBatchesPerSweep = 200;

/**
 * Keeps the indexes as bounded as the records they list: task records, their events and thread histories
 * expire on their own after the retention period, and this removes what still points at them — the ids
 * in the session, channel and global task indexes, idle threads in the threads index, old task endings.
 * Every process runs one; a Redis lock lets one of them sweep at a time.
 */
export class RetentionSweeper {
  private readonly scripts: RedisScriptRunner;
  private readonly threads: KnownThreads;
  private readonly token = randomUUID();
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;

  constructor(private readonly options: RetentionSweeperOptions) {
    this.scripts = new RedisScriptRunner(options.redis);
    this.threads = new KnownThreads(options.redis, options.keys);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = this.sweepOnce()
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'retention sweep failed'))
        .finally(() => {
          this.sweeping = null;
        });
    }, this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
  }

  /** Sweeps now, unless another process is sweeping (then null). */
  async sweepOnce(now = Date.now()): Promise<SweepReport | null> {
    const { redis, keys } = this.options;
    const lockKey = keys.retentionSweepLock();
    const lockMs = Math.max(60_000, 2 * (this.options.intervalMs ?? 60_000));
    if ((await redis.set(lockKey, this.token, 'PX', lockMs, 'NX')) !== 'OK') return null;
    try {
      const backfillDropped = (await redis.exists(keys.retentionBackfillDone()))
        ? 0
        : await this.backfill(now);
      const tasksUnindexed = await this.unindexExpired(now);
      const cutoff = now - this.options.retentionSeconds * 1000;
      const threadsForgotten = await this.threads.forgetIdleSince(cutoff);
      const endingsTrimmed = await this.scripts.run<number>(
        trimEndingsScript,
        [keys.taskEndings()],
        [`${Math.max(0, Math.floor(cutoff))}-0`],
      );
      const report = { tasksUnindexed, threadsForgotten, endingsTrimmed, backfillDropped };
      if (tasksUnindexed + threadsForgotten + endingsTrimmed + backfillDropped > 0) {
        this.options.logger.debug(report, 'retention sweep');
      }
      return report;
    } finally {
      await this.scripts.run(releaseSweepLockScript, [lockKey], [this.token]);
    }
  }

  /**
   * Reads the due entries of the expiry schedule, then hands them with their tasks' keys to trim-expired,
   * which re-checks each is still due (so that every key it touches is declared).
   */
  private async unindexExpired(now: number): Promise<number> {
    const { redis, keys } = this.options;
    const schedule = keys.taskExpirySchedule();
    let removed = 0;
    for (let batch = 0; batch < maxBatchesPerSweep; batch += 1) {
      const due = await redis.zrangebyscore(schedule, '-inf', now, 'LIMIT', 0, batchSize);
      const entries = due.map(readExpiryEntry);
      // A malformed entry names no task: nothing to unindex, and nothing can make it valid.
      const malformed = due.filter((_entry, index) => entries[index] === null);
      if (malformed.length > 0) await redis.zrem(schedule, ...malformed);
      const valid = entries.filter((entry): entry is ExpiryEntry => entry !== null);
      if (valid.length > 0) {
        removed += await this.scripts.run<number>(
          trimExpiredScript,
          [
            schedule,
            keys.allTasks(),
            ...valid.flatMap((entry) => [
              keys.task(entry.taskId),
              keys.sessionTasks(entry.sessionKey),
              keys.channelTasks(entry.platform, entry.channel),
            ]),
          ],
          [now, ...valid.flatMap((entry) => [entry.entry, entry.taskId])],
        );
      }
      if (due.length < batchSize) break;
    }
    return removed;
  }

  /**
   * Once per deployment: indexes written before the expiry schedule existed list tasks that were never
   * scheduled. Every task is in the global index, so going through it schedules each one that will
   * expire (and drops those already gone); the session and channel indexes are then cleared of ids whose
   * record is gone. After this, the schedule alone keeps every index bounded.
   */
  private async backfill(now: number): Promise<number> {
    const { redis, keys } = this.options;
    let dropped = await this.forEachIndexBatch(keys.allTasks(), (ids) =>
      this.scripts.run<number>(
        scheduleIndexedScript,
        [keys.allTasks(), keys.taskExpirySchedule(), ...ids.map((id) => keys.task(id))],
        [now, ...ids],
      ),
    );
    const escapedPrefix = keys.prefix.replace(/[*?[\]\\]/g, '\\$&');
    for (const pattern of [`${escapedPrefix}:session:*:tasks`, `${escapedPrefix}:channel:*:tasks`]) {
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'zset');
        cursor = next;
        for (const indexKey of found) {
          dropped += await this.forEachIndexBatch(indexKey, (ids) =>
            this.scripts.run<number>(dropMissingScript, [indexKey, ...ids.map((id) => keys.task(id))], ids),
          );
        }
      } while (cursor !== '0');
    }
    await redis.set(keys.retentionBackfillDone(), String(now));
    return dropped;
  }

  private async forEachIndexBatch(
    indexKey: string,
    handle: (ids: string[]) => Promise<number>,
  ): Promise<number> {
    let total = 0;
    let cursor = '0';
    do {
      const [next, flat] = await this.options.redis.zscan(indexKey, cursor, 'COUNT', batchSize);
      cursor = next;
      // ZSCAN replies member, score, member, score…
      const ids = flat.filter((_value, index) => index % 2 === 0);
      if (ids.length > 0) total += await handle(ids);
    } while (cursor !== '0');
    return total;
  }
}
