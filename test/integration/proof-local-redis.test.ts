import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/errors.ts';
import { startLocalRedisServer } from '../../src/redis/local-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { portIsOpen } from '../support/port-is-open.ts';

/*
 * Proof for issue 2, "Redis": the private redis-server of `baton start` (AOF on, data in its directory,
 * stopped with it) and the install hint when no redis-server exists.
 */

const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-proof-redis-'));
afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

const installHints = [/apt-get install -y redis-server/, /brew install redis/, /docker compose up -d redis/];

describe('private redis-server', () => {
  it('runs with AOF on, its data in the directory given, on loopback, and stops', async () => {
    const dataDirectory = path.join(directory, 'aof');
    const server = await startLocalRedisServer({ dataDirectory, persistent: true });
    const client = createRedisConnection(server.url);
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'dir')).toEqual(['dir', dataDirectory]);
      expect(await client.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
      await client.set('proof', '1');
      // Redis 7 keeps the AOF in an appendonlydir inside the data directory.
      expect(existsSync(path.join(dataDirectory, 'appendonlydir'))).toBe(true);
    } finally {
      client.disconnect();
      await server.stop();
    }
    expect(await portIsOpen(server.port)).toBe(false);
  });

  // Ctrl-C signals a terminal's whole foreground process group. Were Redis in Baton's group it would exit at
  // once, and the drain that follows could wait on it: Baton stops its Redis itself, last.
  it('runs in a process group of its own, so Ctrl-C reaches Baton and not Redis', async () => {
    const server = await startLocalRedisServer({
      dataDirectory: path.join(directory, 'group'),
      persistent: true,
    });
    try {
      const processGroupOf = (pid: number) =>
        Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[2]);
      expect(processGroupOf(server.pid)).toBe(server.pid);
      expect(processGroupOf(server.pid)).not.toBe(processGroupOf(process.pid));
    } finally {
      await server.stop();
    }
  });

  it('says exactly how to get redis-server when there is none', async () => {
    const failure = await startLocalRedisServer({
      dataDirectory: path.join(directory, 'none'),
      persistent: true,
      binary: path.join(directory, 'no-such-redis-server'),
    }).catch((error: unknown) => error);
    expect(isBatonError(failure, 'redis_unavailable')).toBe(true);
    for (const hint of installHints) expect((failure as Error).message).toMatch(hint);
    expect((failure as Error).message).toMatch(/REDIS_URL/);
  });

  it('`baton start` with REDIS_URL unset and no redis-server on PATH exits non-zero with the hint', async () => {
    const configFile = path.join(directory, 'baton.yaml');
    writeFileSync(
      configFile,
      `redis:\n  local_data_dir: ${path.join(directory, 'start-data')}\nconsole:\n  port: 0\n`,
    );
    const { REDIS_URL: _redis, ...env } = process.env;
    // PATH is an empty directory: no redis-server can be found (node itself is started by its full path).
    const emptyBin = path.join(directory, 'empty-bin');
    mkdirSync(emptyBin);
    const child = spawn(process.execPath, [path.resolve('bin/baton.js'), 'start'], {
      env: { ...env, PATH: emptyBin, BATON_CONFIG: configFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      // SIGTERM, not SIGKILL: if it did start, its shutdown stops the redis-server it spawned.
      const timer = setTimeout(() => child.kill('SIGTERM'), 30_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code).not.toBe(0);
    expect(output).not.toContain('baton ready');
    for (const hint of installHints) expect(output).toMatch(hint);
  }, 40_000);
});
