import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The pid of the private redis-server using a data directory, kept beside its data. */
function pidFileOf(dataDirectory: string): string {
  return path.join(dataDirectory, 'redis-server.pid');
}

/** Running and ours to signal (unlike isProcessAlive, another user's process does not count: not our leftover). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether the pid is a redis-server (Linux: /proc; elsewhere a live pid from our own file is trusted). */
function isRedisServer(pid: number): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc')) return true;
  try {
    return readFileSync(cmdline, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}

export function recordRedisServer(dataDirectory: string, pid: number): void {
  writeFileSync(pidFileOf(dataDirectory), String(pid));
}

export function forgetRedisServer(dataDirectory: string): void {
  rmSync(pidFileOf(dataDirectory), { force: true });
}

/**
 * A `baton start` killed outright (SIGKILL, OOM) cannot stop its private redis-server, which then keeps
 * running on the same data directory. The next start stops that leftover first (its data is safe: it
 * saves its AOF on SIGTERM), so two servers never share one directory and none is leaked for good.
 */
export async function stopLeftoverRedisServer(dataDirectory: string): Promise<number | null> {
  const file = pidFileOf(dataDirectory);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  forgetRedisServer(dataDirectory);
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid) || !isRedisServer(pid)) return null;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  return pid;
}
