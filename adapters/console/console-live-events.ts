import type { SSEStreamingApi } from 'hono/streaming';
import type { Redis } from 'ioredis';
import type { ConsoleReads } from '../../src/gateway/console-reads.ts';
import type { Logger } from '../../src/logging/logger.ts';
import type { ConsoleEvent, ConsoleStore } from './console-store.ts';
import type { TaskTreeReader, TaskTreeSnapshot } from './console-task-tree.ts';

export interface ConsoleLiveEventsOptions {
  /** A dedicated connection: it is put in subscriber mode. */
  subscriber: Redis;
  consoleStore: ConsoleStore;
  taskTree: TaskTreeReader;
  /** Task changes (a nudge to rebuild the tree) and the cheap "was a task dispatched?" check. */
  reads: Pick<ConsoleReads, 'onTaskChange' | 'newestTaskId'>;
  logger: Logger;
  /** Comment lines that keep idle connections open through proxies; default 15 000 ms. */
  heartbeatMs?: number;
  /** How often the tree is refreshed while a task is active (and new tasks are looked for); default 1 000 ms. */
  taskTickMs?: number;
}

interface LiveClient {
  stream: SSEStreamingApi;
  leave: () => void;
}

/** How long signals are gathered before one snapshot answers them all. */
const signalCoalesceMs = 50;

/**
 * Fans console events out to this process's Server-Sent Events clients. Transcript and typing events
 * come over Redis pub/sub, so browsers on any gateway process see every thread; task-tree snapshots
 * are built here, on task signals and on a timer that runs only while a browser is connected.
 */
export class ConsoleLiveEvents {
  private readonly options: ConsoleLiveEventsOptions;
  private readonly clients = new Set<LiveClient>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private taskTimer: NodeJS.Timeout | null = null;
  private signalTimer: NodeJS.Timeout | null = null;
  private stopListeningToSignals: (() => void) | null = null;
  private lastSnapshot: TaskTreeSnapshot | null = null;
  private lastSnapshotKey = '';
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private stopped = false;
  private readonly onRedisMessage = (channel: string, payload: string) => {
    if (channel !== this.options.consoleStore.eventChannel()) return;
    let event: ConsoleEvent;
    try {
      event = JSON.parse(payload) as ConsoleEvent;
    } catch {
      this.options.logger.warn('ignored a malformed console event');
      return;
    }
    this.broadcast(event.type, payload);
  };

  constructor(options: ConsoleLiveEventsOptions) {
    this.options = options;
  }

  /** Resolves once subscribed, so no event published after it is missed. */
  async start(): Promise<void> {
    this.stopped = false;
    this.options.subscriber.on('message', this.onRedisMessage);
    await this.options.subscriber.subscribe(this.options.consoleStore.eventChannel());
    this.stopListeningToSignals = this.options.reads.onTaskChange(() => this.scheduleTaskRefresh());
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Serves one SSE connection until the browser leaves (`signal` aborts) or the console stops. */
  async serve(stream: SSEStreamingApi, signal: AbortSignal): Promise<void> {
    if (this.stopped) return;
    let leave = () => {};
    const left = new Promise<void>((resolve) => {
      leave = resolve;
    });
    const client: LiveClient = { stream, leave };
    stream.onAbort(leave);
    signal.addEventListener('abort', leave, { once: true });
    this.clients.add(client);
    this.startTimers();
    try {
      // Tells EventSource to reconnect quickly after a restart; the page refetches on every (re)open.
      await stream.writeSSE({ event: 'ready', data: '{}', retry: 2000 });
      await this.refreshTasks(true);
      await left;
    } finally {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stopTimers();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopTimers();
    this.stopListeningToSignals?.();
    this.stopListeningToSignals = null;
    for (const client of this.clients) client.leave();
    this.clients.clear();
    this.options.subscriber.off('message', this.onRedisMessage);
    await this.options.subscriber
      .unsubscribe(this.options.consoleStore.eventChannel())
      .catch(() => undefined);
  }

  private broadcast(event: string, data: string): void {
    for (const client of this.clients) {
      // A write to a stream the browser has closed is dropped by hono; its abort listener removes it.
      void client.stream.writeSSE({ event, data }).catch(() => undefined);
    }
  }

  private startTimers(): void {
    const heartbeatMs = this.options.heartbeatMs ?? 15_000;
    const taskTickMs = this.options.taskTickMs ?? 1_000;
    this.heartbeatTimer ??= setInterval(() => {
      for (const client of this.clients) void client.stream.write(': heartbeat\n\n').catch(() => undefined);
    }, heartbeatMs);
    this.taskTimer ??= setInterval(() => void this.tick(), taskTickMs);
  }

  private stopTimers(): void {
    for (const timer of [this.heartbeatTimer, this.taskTimer, this.signalTimer])
      if (timer) clearTimeout(timer);
    this.heartbeatTimer = null;
    this.taskTimer = null;
    this.signalTimer = null;
  }

  private scheduleTaskRefresh(): void {
    if (this.clients.size === 0 || this.signalTimer) return;
    this.signalTimer = setTimeout(() => {
      this.signalTimer = null;
      void this.refreshTasks(false);
    }, signalCoalesceMs);
  }

  /** Refreshes while something is active (elapsed times move); otherwise only looks for a newly dispatched task. */
  private async tick(): Promise<void> {
    if (this.clients.size === 0) return;
    if ((this.lastSnapshot?.activeCount ?? 0) > 0) return this.refreshTasks(false);
    try {
      const newest = await this.options.reads.newestTaskId();
      if (newest !== (this.lastSnapshot?.newestTaskId ?? null)) await this.refreshTasks(false);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'console could not check for new tasks');
    }
  }

  /** One snapshot at a time; calls made meanwhile are answered by one more snapshot after it. */
  private async refreshTasks(force: boolean): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      if (force) this.lastSnapshotKey = '';
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const snapshot = await this.options.taskTree.snapshot();
          this.lastSnapshot = snapshot;
          const key = JSON.stringify(snapshot.sessions);
          if (force || key !== this.lastSnapshotKey) {
            this.lastSnapshotKey = key;
            this.broadcast('tasks', JSON.stringify(snapshot));
          }
          force = false;
        } while (this.refreshAgain && this.clients.size > 0);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'console could not build the task tree');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}
