import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/logger.ts';
import type { SessionTurnLists } from '../sessions/session-turn-lists.ts';

const lockMs = 10_000;
const renewEveryMs = 3_000;
const sweepEveryMs = 2_000;

/**
 * A running turn's hold on one of the process's turn slots. A turn that blocks on something slow that is
 * not its own work (children it waits for) lends the slot out meanwhile: the session's lock stays held, so
 * order within the thread holds and a crash mid-wait still resumes the turn from its checkpoint.
 */
export interface TurnSlot {
  /** Runs `work` without holding a turn slot, then waits for a free slot before returning. */
  releaseWhile<T>(work: () => Promise<T>): Promise<T>;
}

export type TurnHandler<Item> = (sessionKey: string, item: Item, slot: TurnSlot) => Promise<void>;

/**
 * Runs each session's turns one at a time in arrival order, across every gateway process on one Redis,
 * while different sessions run in parallel. A session's pending turns are a Redis list (SessionTurnLists);
 * whoever holds the session's lock drains it. A turn is removed only after it ran, so a gateway that dies mid-turn leaves it
 * for the next holder (the lock expires), and a sweeper picks up sessions nobody is draining.
 */
export class SessionTurnQueue<Item> {
  private readonly token = randomUUID();
  private readonly draining = new Set<string>();
  private sweeper: NodeJS.Timeout | null = null;
  private running = 0;
  private readonly waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly lists: SessionTurnLists,
    private readonly handler: TurnHandler<Item>,
    private readonly options: {
      maxConcurrentSessions: number;
      logger: Logger;
      /** Reads a stored turn back; throws on one that is not a turn (it is then dropped with the error). */
      parse(raw: string): Item;
    },
  ) {}

  start(): void {
    this.sweeper = setInterval(() => void this.sweep(), sweepEveryMs);
    this.sweeper.unref();
    void this.sweep();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweeper) clearInterval(this.sweeper);
    while (this.draining.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** Queues a turn; returns how many turns of the session are ahead of it (including a running one). */
  async enqueue(sessionKey: string, item: Item): Promise<number> {
    const length = await this.lists.push(sessionKey, JSON.stringify(item));
    void this.drain(sessionKey);
    return length - 1;
  }

  private async sweep(): Promise<void> {
    if (this.stopped) return;
    try {
      const sessions = await this.lists.pendingSessions();
      for (const sessionKey of sessions) void this.drain(sessionKey);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'turn sweep failed');
    }
  }

  private async acquireSlot(): Promise<void> {
    if (this.running < this.options.maxConcurrentSessions) {
      this.running += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.running += 1;
  }

  private releaseSlot(): void {
    this.running -= 1;
    this.waiters.shift()?.();
  }

  /** The slot of one turn; parallel waits of one tool batch give it up once and take it back once. */
  private turnSlot(): TurnSlot {
    let waits = 0;
    let reacquiring: Promise<void> = Promise.resolve();
    return {
      releaseWhile: async <T>(work: () => Promise<T>): Promise<T> => {
        await reacquiring;
        waits += 1;
        if (waits === 1) this.releaseSlot();
        try {
          return await work();
        } finally {
          waits -= 1;
          if (waits === 0) {
            reacquiring = this.acquireSlot();
            await reacquiring;
          } else {
            await reacquiring;
          }
        }
      },
    };
  }

  private async drain(sessionKey: string): Promise<void> {
    if (this.stopped || this.draining.has(sessionKey)) return;
    this.draining.add(sessionKey);
    const advance = (dropHead: boolean) => this.lists.advance(sessionKey, this.token, dropHead);
    try {
      if (!(await this.lists.tryLock(sessionKey, this.token, lockMs))) return;
      // Renew from the start: waiting for a free slot must not let the session's lock lapse.
      const renew = setInterval(
        () => void this.lists.renewLock(sessionKey, this.token, lockMs).catch(() => undefined),
        renewEveryMs,
      );
      await this.acquireSlot();
      try {
        for (let step = await advance(false); step[0] === 'next'; step = await advance(true)) {
          if (!this.stopped) await this.runTurn(sessionKey, step[1], this.turnSlot());
          if (this.stopped) {
            // Interrupted by shutdown: leave the turn at the head for the next process to run.
            await this.lists.releaseLock(sessionKey, this.token);
            return;
          }
        }
      } finally {
        clearInterval(renew);
        this.releaseSlot();
      }
    } catch (error) {
      this.options.logger.warn({ err: error, sessionKey }, 'draining a session failed');
    } finally {
      this.draining.delete(sessionKey);
    }
  }

  private async runTurn(sessionKey: string, turn: string, slot: TurnSlot): Promise<void> {
    try {
      await this.handler(sessionKey, this.options.parse(turn), slot);
    } catch (error) {
      // A turn that throws is dropped after logging: replaying it forever would wedge the thread.
      if (!this.stopped) this.options.logger.error({ err: error, sessionKey }, 'turn failed');
    }
  }
}
