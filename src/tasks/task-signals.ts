import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { TaskStatus } from './task-record.ts';

/**
 * Signals carried between processes on one pub/sub channel, each message one signal or a list of them.
 * Redis state stays the truth; signals only wake.
 */
export type TaskSignal =
  | { kind: 'queued'; taskId: string; sessionKey: string }
  | { kind: 'cancel'; taskId: string }
  | { kind: 'steer'; taskId: string; messageId: string }
  | { kind: 'ended'; taskId: string; status: TaskStatus }
  | { kind: 'stopped'; taskId: string }
  | { kind: 'parked'; taskId: string; sessionKey: string; status: TaskStatus };

type Listener = (signal: TaskSignal) => void;

/**
 * One subscriber connection per process, fanned out to in-process listeners by task id,
 * so thousands of waiting tasks cost one Redis connection.
 */
export class TaskSignals {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly anyListeners = new Set<Listener>();
  private subscribed: Promise<unknown> | null = null;
  /** The channel's name, built once: every message of every task is checked against it. */
  private readonly channel: string;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    keys: RedisKeys,
    private readonly logger?: Logger,
  ) {
    this.channel = keys.signalChannel();
  }

  /** Subscribes once; resolves when the subscription is confirmed, so no signal sent after it is missed. */
  start(): Promise<unknown> {
    if (!this.subscribed) {
      this.subscriber.on('message', (channel: string, payload: string) => {
        if (channel !== this.channel) return;
        let signals: TaskSignal | TaskSignal[];
        try {
          signals = JSON.parse(payload) as TaskSignal | TaskSignal[];
        } catch {
          this.logger?.warn({ payload }, 'ignored a malformed task signal');
          return;
        }
        // A script that changes many tasks at once (admit-tasks, complete-tasks) publishes their signals as
        // one message: one delivery to every subscriber instead of one per task.
        if (Array.isArray(signals)) for (const signal of signals) this.dispatch(signal);
        else this.dispatch(signals);
      });
      this.subscribed = this.subscriber.subscribe(this.channel);
    }
    return this.subscribed;
  }

  private dispatch(signal: TaskSignal): void {
    for (const listener of this.listeners.get(signal.taskId) ?? []) listener(signal);
    for (const listener of this.anyListeners) listener(signal);
  }

  async publish(signal: TaskSignal): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(signal));
  }

  /** Listens to the signals of one task; returns the function that stops listening. */
  onTask(taskId: string, listener: Listener): () => void {
    let set = this.listeners.get(taskId);
    if (!set) {
      set = new Set();
      this.listeners.set(taskId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(taskId);
    };
  }

  /**
   * Listens to every signal of every task: the gateway's task boards learn of newly queued tasks this way,
   * and the web console refreshes its task list. Returns the function that stops listening.
   */
  onAny(listener: Listener): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    this.anyListeners.clear();
    if (this.subscribed) await this.subscriber.unsubscribe(this.channel).catch(() => undefined);
  }
}
