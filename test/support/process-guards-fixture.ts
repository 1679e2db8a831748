// A process with Baton's guards installed that misbehaves on purpose: a promise rejected with nobody
// listening, then (if asked) an exception thrown from a timer. Run by test/unit/process-guards.test.ts.
import { installProcessGuards } from '../../src/cli/process-guards.ts';
import { createLogger } from '../../src/logging/logger.ts';

const logger = createLogger({ level: 'info' });
const guards = installProcessGuards(logger);
guards.onFatal(async () => {
  process.stdout.write('stopped cleanly\n');
});
void Promise.reject(new Error('nobody awaited this'));
setTimeout(() => {
  process.stdout.write('still serving\n');
  if (process.argv.includes('--throw')) {
    setTimeout(() => {
      throw new Error('thrown from a timer');
    }, 10);
  } else {
    process.exit(0);
  }
}, 300);
