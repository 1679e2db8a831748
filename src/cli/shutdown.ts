import type { Logger } from '../logging/logger.ts';

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits. A second signal exits at once, for people who
 * press Ctrl-C twice; a shutdown that outlasts its deadline exits too, so a stuck drain never leaves a
 * process that ignores Ctrl-C.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>, deadlineMs: number): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down (a second Ctrl-C exits at once)');
    setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown did not finish in time: exiting now');
      process.exit(1);
    }, deadlineMs).unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
