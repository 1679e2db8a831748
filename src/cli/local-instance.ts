import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BatonError } from '../errors.ts';
import { isProcessAlive } from '../process-alive.ts';

/** What a running `baton start` writes beside its data, for `baton status`, `baton stop` and a second start. */
export interface LocalInstanceRecord {
  pid: number;
  startedAt: string;
  /** The console's URL once it listens. */
  console: string | null;
  /** The ops endpoint (/healthz, /metrics) once it listens. */
  ops: string | null;
  /** Redis this instance uses (password hidden). */
  redis: string | null;
  /** The private redis-server's pid, when this instance started one. */
  redisPid: number | null;
}

export function instanceFileOf(dataDirectory: string): string {
  return path.join(path.resolve(dataDirectory), 'baton.pid');
}

/** Whether the pid is a Baton process (Linux: /proc; elsewhere any live pid from our own file is trusted). */
function isBatonProcess(pid: number): boolean {
  if (!existsSync('/proc')) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('baton');
  } catch {
    return false;
  }
}

/** The record of the Baton running on this data directory, or null when none is (a stale file is ignored). */
export function readLocalInstance(dataDirectory: string): LocalInstanceRecord | null {
  const file = instanceFileOf(dataDirectory);
  let record: LocalInstanceRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as LocalInstanceRecord;
  } catch {
    return null;
  }
  if (!Number.isInteger(record.pid) || record.pid <= 0) return null;
  if (record.pid === process.pid) return record;
  return isProcessAlive(record.pid) && isBatonProcess(record.pid) ? record : null;
}

export interface LocalInstanceLock {
  /** Adds what became known after start (console and ops URLs, Redis) to the record. */
  update(fields: Partial<Omit<LocalInstanceRecord, 'pid' | 'startedAt'>>): void;
  release(): void;
}

function describeHolder(record: LocalInstanceRecord, dataDirectory: string): string {
  const details = [`pid ${record.pid}`];
  if (record.console) details.push(`console ${record.console}`);
  details.push(`since ${record.startedAt}`);
  return [
    `another Baton is already running on the data directory ${path.resolve(dataDirectory)} (${details.join(', ')}).`,
    'Stop it with `baton stop` (or Ctrl-C in its terminal), or see it with `baton status`.',
    'To run a second one beside it, give it its own data directory (redis.local_data_dir in a BATON_CONFIG file)',
    'and console port (BATON_CONSOLE_PORT).',
  ].join('\n  ');
}

/**
 * One Baton per data directory: two would share (and one would stop) the private redis-server. The file is
 * created exclusively; a file left by a process that is gone (killed outright) is taken over.
 */
export function acquireLocalInstance(dataDirectory: string): LocalInstanceLock {
  const directory = path.resolve(dataDirectory);
  mkdirSync(directory, { recursive: true });
  const file = instanceFileOf(directory);
  const record: LocalInstanceRecord = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    console: null,
    ops: null,
    redis: null,
    redisPid: null,
  };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      writeFileSync(file, JSON.stringify(record), { flag: 'wx' });
      return lockOf(file, record);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readLocalInstance(directory);
    if (holder)
      throw new BatonError('instance_running', describeHolder(holder, directory), { fault: 'user' });
    // Its owner is gone: take the file over (another start racing for it makes our next `wx` fail).
    rmSync(file, { force: true });
  }
  throw new BatonError('instance_running', `could not take ${file}: another Baton keeps starting there`, {
    fault: 'user',
  });
}

function lockOf(file: string, record: LocalInstanceRecord): LocalInstanceLock {
  let released = false;
  const releaseOnExit = () => lock.release();
  const lock: LocalInstanceLock = {
    update(fields) {
      if (released) return;
      Object.assign(record, fields);
      writeFileSync(file, JSON.stringify(record));
    },
    release() {
      if (released) return;
      released = true;
      process.off('exit', releaseOnExit);
      // Only our own file: never remove the record of an instance that took over after us.
      try {
        const current = JSON.parse(readFileSync(file, 'utf8')) as LocalInstanceRecord;
        if (current.pid === record.pid) rmSync(file, { force: true });
      } catch {
        // Already gone.
      }
    },
  };
  process.once('exit', releaseOnExit);
  return lock;
}
