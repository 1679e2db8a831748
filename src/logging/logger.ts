import { type DestinationStream, type Logger, pino, stdSerializers } from 'pino';
import { build as prettyStream } from 'pino-pretty';
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
  /** `pretty` (human-readable lines), `json`, or `auto` (the default): pretty when stderr is a terminal. */
  format?: LogFormat | 'auto';
}

export type LogFormat = 'pretty' | 'json';

/**
 * Pretty lines for a person at a terminal; JSON (one event per line) for everything that reads logs
 * with a program: pipes, files, container log drivers. `log.format` (`LOG_FORMAT`) overrides the guess.
 */
export function chooseLogFormat(
  configured: LogFormat | 'auto' = 'auto',
  isTerminal = process.stderr.isTTY === true,
): LogFormat {
  if (configured !== 'auto') return configured;
  return isTerminal ? 'pretty' : 'json';
}

function defaultDestination(format: LogFormat): DestinationStream {
  if (format === 'json') return pino.destination({ dest: 2, sync: false });
  // Synchronous, so the last lines before an exit are not lost; a person reads these, not a collector.
  return prettyStream({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
  });
}

/**
 * Structured logs on stderr, one event per line (JSON, or pretty at a terminal: see chooseLogFormat);
 * `LOG_LEVEL` sets the level (default `info`).
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
    options.destination ?? defaultDestination(chooseLogFormat(options.format)),
  );
}

/** A logger that writes nothing, for tests and library use. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
