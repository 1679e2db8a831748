import { type DestinationStream, type Logger, pino, stdSerializers } from 'pino';
import { redactSecrets, redactSecretsDeep } from './redact-secrets.ts';

export type { Logger };

/**
 * An error as a log field: type, message, stack and own fields, with its `cause` chain and an
 * AggregateError's `errors` kept (pino's serializer folds them into message and stack), and every
 * secret inside removed.
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return redactSecretsDeep(error);
  return redactSecretsDeep(stdSerializers.err(error));
}

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go; default stderr. Tests pass a stream to read them. */
  destination?: DestinationStream;
}

/**
 * Structured JSON logs on stderr, one event per line; `LOG_LEVEL` sets the level (default `info`).
 * Secrets are removed in one place every line passes: the finished line, just before it is written
 * (`hooks.streamWrite`), so a key quoted by an error's cause, a header or a response body never
 * reaches the log whatever field carries it. Errors are also serialized redacted, and the usual
 * credential fields are censored by path.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
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
      serializers: { err: serializeError, error: serializeError },
      hooks: { streamWrite: redactSecrets },
    },
    options.destination ?? pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that writes nothing, for tests and library use. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
