/**
 * What scrubbing secrets from every log line costs: lines per second of Baton's logger (the finished line
 * scrubbed of 10 registered secrets, errors serialized redacted) against plain pino with the same fields,
 * both writing to a stream that drops everything. Standalone: `node --import tsx bench/log-redaction.ts`.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createLogger, type Logger } from '../src/logging/logger.ts';
import { registerSecret } from '../src/logging/redact-secrets.ts';

for (let index = 0; index < 10; index += 1) registerSecret(`secret-value-${index}-0123456789abcdef`);
const nowhere = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });

function linesPerSecond(logger: Logger, count: number): number {
  const started = performance.now();
  for (let index = 0; index < count; index += 1) {
    const err = index % 10 === 0 ? new Error('model call failed', { cause: new Error('401') }) : undefined;
    logger.info({ taskId: 't_abc123', attempt: index, err }, 'child step finished; the next one starts now');
  }
  return Math.round(count / ((performance.now() - started) / 1000));
}

const plain = pino({ level: 'info' }, nowhere()) as Logger;
const baton = createLogger({ level: 'info', destination: nowhere() });
linesPerSecond(plain, 20_000);
linesPerSecond(baton, 20_000);
const plainRate = linesPerSecond(plain, 100_000);
const batonRate = linesPerSecond(baton, 100_000);
console.log(`plain pino: ${plainRate} lines/s`);
console.log(
  `baton logger, 10 secrets registered: ${batonRate} lines/s (${(batonRate / plainRate).toFixed(2)} of plain)`,
);
console.log(`added per line: ${((1 / batonRate - 1 / plainRate) * 1e6).toFixed(2)} µs`);
