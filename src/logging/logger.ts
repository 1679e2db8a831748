import { type Logger, pino } from 'pino';
import { redactSecrets } from './redact-secrets.ts';

export type { Logger };

/** Structured JSON logs on stderr, one event per line; `LOG_LEVEL` sets the level (default `info`). */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'baton',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          'apiKey',
          '*.apiKey',
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
      hooks: {
        // Secrets can also hide inside free text (an error message quoting a header), so scrub strings too.
        logMethod(args, method) {
          method.apply(
            this,
            args.map((argument) =>
              typeof argument === 'string' ? redactSecrets(argument) : argument,
            ) as Parameters<typeof method>,
          );
        },
      },
    },
    pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that writes nothing, for tests and library use. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
