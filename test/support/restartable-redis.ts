import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../src/net/free-port.ts';

export interface RestartableRedis {
  url: string;
  port: number;
  directory: string;
  /** Stops it: SIGTERM is a clean shutdown (AOF flushed), SIGKILL a crash. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts it again on the same port and data (AOF replayed). */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
}

export interface RestartableRedisOptions {
  /** `everysec` (Baton's private redis-server) or `always`. */
  appendfsync?: 'everysec' | 'always';
  /** Extra arguments, e.g. `--replicaof`. */
  extraArgs?: string[];
  port?: number;
}

/** A redis-server with AOF on a fixed port and directory, which a fault test stops and starts at will. */
export async function startRestartableRedis(
  options: RestartableRedisOptions = {},
): Promise<RestartableRedis> {
  const port = options.port ?? (await findFreePort());
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-fault-redis-'));
  let child: ChildProcess | null = null;
  let output = '';
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const start = () =>
    new Promise<void>((resolve, reject) => {
      output = '';
      const started = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          directory,
          '--appendonly',
          'yes',
          '--appendfsync',
          options.appendfsync ?? 'everysec',
          '--save',
          '',
          ...(options.extraArgs ?? []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      );
      child = started;
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      started.stdout?.on('data', onData);
      started.stderr?.on('data', onData);
      started.once('exit', (code) =>
        reject(new Error(`redis-server exited (${code}): ${output.slice(-800)}`)),
      );
    });

  const stop = (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') =>
    new Promise<void>((resolve) => {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return resolve();
      running.once('exit', () => resolve());
      running.kill(signal);
    });

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    directory,
    stop,
    start,
    async destroy() {
      process.off('exit', killOnExit);
      await stop('SIGKILL');
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
