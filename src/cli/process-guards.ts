import type { Logger } from '../logging/logger.ts';

export interface ProcessGuards {
  /** What an uncaught exception runs before the process exits (the same stop as SIGTERM). */
  onFatal(stop: () => Promise<void>): void;
}

/** Longest a stop after an uncaught exception may take before the process exits anyway. */
const fatalStopLimitMs = 30_000;

/**
 * Last-resort handlers, so one bad request cannot end a process that serves many. An unhandled rejection
 * is a bug in one piece of work: it is logged and the process keeps serving. An uncaught exception may
 * have left state half-changed: it is logged, the process stops as on SIGTERM (children resume from their
 * checkpoints on another worker, queued turns stay queued) and exits with 1 so its supervisor restarts it.
 */
export function installProcessGuards(
  logger: Logger,
  exit: (code: number) => void = process.exit,
): ProcessGuards {
  let stop: (() => Promise<void>) | null = null;
  let stopping = false;
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection; still serving');
  });
  process.on('uncaughtException', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught exception; stopping');
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => exit(1), fatalStopLimitMs);
    timer.unref();
    void (stop ?? (async () => undefined))()
      .catch((stopError: unknown) => logger.error({ err: stopError }, 'stopping after an exception failed'))
      .finally(() => {
        clearTimeout(timer);
        logger.flush();
        exit(1);
      });
  });
  return {
    onFatal(value) {
      stop = value;
    },
  };
}
