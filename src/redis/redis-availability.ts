import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import { describeRedisConnectionError } from './redis-connection.ts';

export type RedisState = 'up' | 'down';

/**
 * Watches one connection (the runtime's command connection) and reports a lost Redis once when it goes
 * and once when it comes back, not on every reconnect attempt. Health, the console's banner and the
 * log read its state; commands meanwhile wait in ioredis' queue and run when Redis is back.
 */
export class RedisAvailability {
  // Start-up has already checked that Redis answers (assertRedisReachable), so it starts as up.
  private current: RedisState = 'up';
  private downSince = 0;
  private lastReason = '';
  private readonly listeners = new Set<(state: RedisState) => void>();

  constructor(
    private readonly connection: Redis,
    private readonly logger: Logger,
    private readonly where: string,
  ) {
    connection.on('ready', this.onReady);
    connection.on('error', this.onError);
    connection.on('close', this.onClose);
  }

  private readonly onReady = () => this.set('up');
  private readonly onClose = () => this.set('down');
  private readonly onError = (error: unknown) => {
    this.lastReason = describeRedisConnectionError(error, this.where);
  };

  get state(): RedisState {
    return this.current;
  }

  /** Called on every change of state (not on every retry). */
  onChange(listener: (state: RedisState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(next: RedisState): void {
    if (next === this.current) return;
    this.current = next;
    if (next === 'down') {
      this.downSince = Date.now();
      this.logger.warn(
        { redis: this.where, reason: this.lastReason || undefined },
        `lost Redis at ${this.where}; reconnecting (work waits and resumes when it is back)`,
      );
    } else {
      const seconds = this.downSince ? Math.round((Date.now() - this.downSince) / 100) / 10 : 0;
      this.logger.info({ redis: this.where, downForS: seconds }, `Redis is back at ${this.where}`);
    }
    for (const listener of this.listeners) listener(next);
  }

  /** Stops reporting, e.g. before the process closes its connections on purpose. */
  stop(): void {
    this.connection.off('ready', this.onReady);
    this.connection.off('error', this.onError);
    this.connection.off('close', this.onClose);
    this.listeners.clear();
  }
}
