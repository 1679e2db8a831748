import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { BatonError } from '../errors.ts';
import { findFreePort } from '../net/free-port.ts';
import { forgetRedisServer, recordRedisServer, stopLeftoverRedisServer } from './leftover-redis-server.ts';

export interface LocalRedisServer {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export interface LocalRedisOptions {
  /** Data directory; created when missing. */
  dataDirectory: string;
  /** AOF persistence on (for `baton start`) or off (for tests and benchmarks). */
  persistent: boolean;
  /** redis-server binary; default: the one on PATH. */
  binary?: string;
}

const installHint = [
  'redis-server was not found on PATH. Baton needs Redis; either set REDIS_URL to a server you have, or install one:',
  '  Debian/Ubuntu:  sudo apt-get install -y redis-server',
  '  macOS:          brew install redis',
  '  Docker:         docker compose up -d redis   (then REDIS_URL=redis://127.0.0.1:6379)',
].join('\n');

export function hasRedisServerBinary(binary = 'redis-server'): boolean {
  const probe = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

/**
 * Starts a private redis-server on a free loopback port, and stops it when this process exits. With
 * `persistent`, the caller holds the data directory (acquireLocalInstance), so a redis-server recorded there
 * is a leftover of a Baton that was killed outright, and is stopped first.
 */
export async function startLocalRedisServer(options: LocalRedisOptions): Promise<LocalRedisServer> {
  const binary = options.binary ?? 'redis-server';
  if (!hasRedisServerBinary(binary))
    throw new BatonError('redis_unavailable', installHint, { fault: 'user' });
  const dataDirectory = path.resolve(options.dataDirectory);
  mkdirSync(dataDirectory, { recursive: true });
  if (options.persistent) await stopLeftoverRedisServer(dataDirectory);
  let lastError: unknown;
  // A port found free can be taken before redis binds it; try a few.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await findFreePort();
    try {
      const server = await spawnOnPort(binary, port, dataDirectory, options.persistent);
      if (!options.persistent) return server;
      recordRedisServer(dataDirectory, server.pid);
      return {
        ...server,
        stop: async () => {
          await server.stop();
          forgetRedisServer(dataDirectory);
        },
      };
    } catch (error) {
      lastError = error;
    }
  }
  throw new BatonError('redis_unavailable', `could not start redis-server: ${String(lastError)}`, {
    cause: lastError,
  });
}

function spawnOnPort(binary: string, port: number, dataDirectory: string, persistent: boolean) {
  const persistence = persistent
    ? ['--appendonly', 'yes', '--appendfsync', 'everysec']
    : ['--appendonly', 'no', '--save', ''];
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDirectory,
      ...persistence,
      '--daemonize',
      'no',
    ],
    // Its own process group: a terminal's Ctrl-C (SIGINT to the whole foreground group) must not stop Redis
    // under Baton while it drains; Baton stops it last, after the gateway and worker are done.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  return new Promise<LocalRedisServer>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(wrap(child, port));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with code ${code}: ${output.slice(-500)}`)),
    );
  });
}

function wrap(child: ChildProcess, port: number): LocalRedisServer {
  // A spawned redis outlives a parent killed by a signal it cannot catch; stop it on every exit we can see.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
