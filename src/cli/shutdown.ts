import type { Logger } from '../logging/logger.ts';

export interface ShutdownOptions {
  /** The graceful stop: adapters, then deliveries and children drain, then connections close. */
  stop: () => Promise<void>;
  /**
   * What must still happen when the graceful stop is cut short (a second signal, or the deadline): for
   * `baton start`, stopping its private redis-server cleanly. Default: nothing.
   */
  force?: () => Promise<void>;
  /** Longest the graceful stop may take before the process forces its exit; default 30 s. */
  deadlineMs?: number;
  /** What the second Ctrl-C will do, said when the first one arrives. */
  secondSignalHint?: string;
  /** Replaced by tests. */
  exit?: (code: number) => void;
}

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0. A second signal, or a stop that outlasts its
 * deadline, runs `force` (bounded too) and exits 1: a shutdown never hangs.
 */
export function onShutdownSignal(logger: Logger, options: ShutdownOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const deadlineMs = options.deadlineMs ?? 30_000;
  let stopping = false;
  let forcing = false;

  const forceExit = (why: string) => {
    if (forcing) {
      exit(1);
      return;
    }
    forcing = true;
    logger.warn(why);
    // Forcing itself is bounded: a redis-server that ignores SIGTERM is killed by its own stop's timer.
    const hardLimit = setTimeout(() => exit(1), 5000);
    hardLimit.unref();
    void (options.force ?? (async () => undefined))()
      .catch((error: unknown) => logger.error({ err: error }, 'forced stop failed'))
      .finally(() => {
        logger.flush();
        exit(1);
      });
  };

  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      forceExit(
        `second ${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping now without waiting; running children ` +
          'resume from their last checkpoint at the next start',
      );
      return;
    }
    stopping = true;
    logger.info(
      { signal, deadlineS: deadlineMs / 1000 },
      `shutting down: finishing work in hand (at most ${deadlineMs / 1000} s)` +
        (options.secondSignalHint ? `; ${options.secondSignalHint}` : ''),
    );
    const deadline = setTimeout(
      () => forceExit(`shutdown did not finish within ${deadlineMs / 1000} s: stopping now`),
      deadlineMs,
    );
    deadline.unref();
    options.stop().then(
      () => {
        clearTimeout(deadline);
        logger.info('stopped');
        logger.flush();
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(deadline);
        logger.error({ err: error }, 'shutdown failed');
        forceExit('stopping what is left');
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
