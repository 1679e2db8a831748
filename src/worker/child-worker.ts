import { randomUUID } from 'node:crypto';
import { type Job, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ChildRunnerDependencies } from '../agent/child-run.ts';
import { runChildTask } from '../agent/child-runner.ts';
import { isLapsedLockError, isRedisConnectionError } from '../redis/redis-connection.ts';
import { type ChildJobData, childQueueName } from '../tasks/task-queue.ts';

export interface ChildWorkerOptions {
  connection: Redis;
  prefix: string;
  runner: ChildRunnerDependencies;
  /** Heartbeat for /healthz: workers seen in the last 30 s. */
  heartbeatRedis: Redis;
}

const heartbeatIntervalMs = 10_000;
/** A worker whose heartbeat is not renewed within this long counts as gone. */
const heartbeatLapseMs = 30_000;

/** A BullMQ worker running child agents, with a graceful drain that never fails an interrupted child. */
export class ChildWorker {
  readonly id = randomUUID();
  readonly worker: Worker<ChildJobData>;
  private draining = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: ChildWorkerOptions) {
    const { config, logger, store } = options.runner;
    // BullMQ passes the job's AbortSignal only to a processor that declares three parameters.
    const processor = async (job: Job<ChildJobData>, token: string | undefined, signal?: AbortSignal) => {
      const runnerToken = `${this.id}:${token ?? randomUUID()}`;
      const result = await runChildTask(
        options.runner,
        job.data.taskId,
        runnerToken,
        signal,
        () => this.draining,
        job.data.round,
      );
      if (result.kind === 'interrupted') {
        // Back to the queue without counting a failure; another worker resumes it from its checkpoint.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      return result;
    };
    this.worker = new Worker<ChildJobData>(childQueueName, processor, {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: config.worker.concurrency,
      lockDuration: config.worker.lock_duration_ms,
      stalledInterval: config.worker.stalled_interval_ms,
      maxStalledCount: config.worker.max_stalled_count,
    });
    this.worker.on('failed', (job, error) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      // Out of retries: the task must not stay "running" forever. Its record names the sets it leaves.
      store
        .get(job.data.taskId)
        .then((record) =>
          record ? store.transition(record, 'failed', { error: `worker error: ${error.message}` }) : null,
        )
        .catch((transitionError: unknown) =>
          logger.error({ err: transitionError, taskId: job.data.taskId }, 'could not fail the task'),
        );
    });
    this.worker.on('error', (error) => {
      // A lost Redis is reported once by RedisAvailability; BullMQ repeats it on every reconnect attempt, and
      // after it, once per job whose lock lapsed meanwhile (the stall check hands those out again).
      if (isRedisConnectionError(error) || isLapsedLockError(error))
        logger.debug({ err: error }, 'child worker error (Redis connection)');
      else logger.error({ err: error }, 'child worker error');
    });
    this.heartbeat = setInterval(() => void this.beat(), heartbeatIntervalMs);
    this.heartbeat.unref();
    void this.beat();
  }

  private async beat(): Promise<void> {
    const key = this.options.runner.store.keys.workerHeartbeats();
    const now = Date.now();
    // Lapses 30 s from now unless renewed; lapsed entries (workers that died) are dropped here.
    await this.options.heartbeatRedis
      .multi()
      .zadd(key, now + heartbeatLapseMs, this.id)
      .zremrangebyscore(key, '-inf', now)
      .exec()
      .catch(() => undefined);
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /**
   * Stops taking jobs; running children get `graceMs` to reach a step boundary, then their in-flight calls
   * are aborted. Every interrupted child goes back to the queue and resumes elsewhere from its checkpoint.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const closing = this.worker.close();
    const abortLater = setTimeout(() => this.worker.cancelAllJobs('shutdown'), graceMs);
    try {
      await closing;
    } finally {
      clearTimeout(abortLater);
      clearInterval(this.heartbeat);
      await this.options.heartbeatRedis
        .zrem(this.options.runner.store.keys.workerHeartbeats(), this.id)
        .catch(() => undefined);
    }
  }

  /** Immediate stop for tests: aborts running children, which go back to the queue. */
  async close(): Promise<void> {
    await this.drain(0);
  }
}
