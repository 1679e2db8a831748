import { type Logger as BoltLogger, LogLevel } from '@slack/bolt';
import type { Logger } from '../../src/logging/logger.ts';

/**
 * Bolt's and the Socket Mode client's log lines, into Baton's pino logger (JSON, secrets redacted).
 * `LOG_LEVEL` decides what is written; Bolt's own `setLevel` calls are ignored. Bolt's info lines are
 * connection chatter and go out at debug.
 */
export function boltLoggerFor(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'slack-bolt' });
  let name = 'bolt';
  const write = (level: 'debug' | 'warn' | 'error', messages: unknown[]) => {
    if (!child.isLevelEnabled(level)) return;
    child[level]({ source: name }, messages.map(describe).join(' '));
  };
  return {
    debug: (...messages: unknown[]) => write('debug', messages),
    info: (...messages: unknown[]) => write('debug', messages),
    warn: (...messages: unknown[]) => write('warn', messages),
    error: (...messages: unknown[]) => write('error', messages),
    setLevel: () => undefined,
    getLevel: () => boltLevelOf(child.level),
    setName: (next: string) => {
      name = next;
    },
  };
}

function boltLevelOf(level: string): LogLevel {
  switch (level) {
    case 'trace':
    case 'debug':
      return LogLevel.DEBUG;
    case 'info':
      return LogLevel.INFO;
    case 'warn':
      return LogLevel.WARN;
    default:
      return LogLevel.ERROR;
  }
}

function describe(message: unknown): string {
  if (typeof message === 'string') return message;
  if (message instanceof Error) return message.message;
  try {
    return JSON.stringify(message);
  } catch {
    return String(message);
  }
}
