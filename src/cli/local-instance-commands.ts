import path from 'node:path';
import { loadConfig } from '../config/load-config.ts';
import { isProcessAlive } from '../process-alive.ts';
import { readLocalInstance } from './local-instance.ts';

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** What the instance's own ops endpoint says, or why it said nothing. */
async function healthOf(opsUrl: string | null): Promise<string> {
  if (!opsUrl) return 'unknown (still starting)';
  try {
    const response = await fetch(`${opsUrl}/healthz`, { signal: AbortSignal.timeout(3000) });
    const report = (await response.json()) as {
      ok: boolean;
      redis: string;
      workers: number;
      problems?: string[];
    };
    if (report.ok)
      return `ok (Redis ${report.redis}, ${report.workers} worker${report.workers === 1 ? '' : 's'})`;
    return `NOT ok: ${(report.problems ?? []).join('; ') || `Redis ${report.redis}`}`;
  } catch (error) {
    return `no answer from ${opsUrl} (${(error as Error).message})`;
  }
}

/** `baton status`: whether a `baton start` runs on this data directory, where, and how it is. Exit 3 if not. */
export async function runStatus(): Promise<number> {
  const config = loadConfig();
  const directory = path.resolve(config.redis.local_data_dir);
  const instance = readLocalInstance(directory);
  if (!instance) {
    write(`Baton is not running (data directory ${directory}).`);
    return 3;
  }
  write(`Baton is running: pid ${instance.pid}, since ${instance.startedAt}`);
  write(`  data directory: ${directory}`);
  if (instance.console) write(`  console:        ${instance.console}`);
  if (instance.ops) write(`  ops endpoint:   ${instance.ops} (/healthz, /metrics)`);
  if (instance.redis)
    write(
      `  redis:          ${instance.redis}${instance.redisPid ? ` (private redis-server, pid ${instance.redisPid})` : ''}`,
    );
  write(`  health:         ${await healthOf(instance.ops)}`);
  return 0;
}

/**
 * `baton stop`: asks the `baton start` of this data directory to stop (SIGTERM: the same graceful stop as
 * Ctrl-C) and waits until it has. Exit 0 when it is stopped (or was not running), 1 when it would not stop.
 */
export async function runStop(): Promise<number> {
  const config = loadConfig();
  const directory = path.resolve(config.redis.local_data_dir);
  const instance = readLocalInstance(directory);
  if (!instance) {
    write(`Baton is not running (data directory ${directory}).`);
    return 0;
  }
  write(`Stopping Baton (pid ${instance.pid})…`);
  process.kill(instance.pid, 'SIGTERM');
  // Its own deadline forces the stop after ops.shutdown_timeout_s; allow for that and a little more.
  const deadline = Date.now() + (config.ops.shutdown_timeout_s + 15) * 1000;
  while (isProcessAlive(instance.pid)) {
    if (Date.now() > deadline) {
      write(`Baton (pid ${instance.pid}) did not stop; stop it with: kill -9 ${instance.pid}`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  write('Stopped.');
  return 0;
}
