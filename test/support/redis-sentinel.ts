import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../src/net/free-port.ts';

export interface RedisSentinel {
  port: number;
  address: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A real Sentinel (redis-server --sentinel) watching one master, quick to act: the master counts as down
 * after 1 s without an answer, and one sentinel is enough to agree (quorum 1).
 */
export async function startRedisSentinel(masterName: string, masterPort: number): Promise<RedisSentinel> {
  const port = await findFreePort();
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-sentinel-'));
  const configFile = path.join(directory, 'sentinel.conf');
  // Sentinel rewrites its own config file as it learns: it must be a writable file of its own.
  writeFileSync(
    configFile,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${directory}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [configFile, '--sentinel'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('+monitor master')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis sentinel exited (${code}): ${output.slice(-800)}`)));
  });
  return {
    port,
    address: `127.0.0.1:${port}`,
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', killOnExit);
        const done = () => {
          rmSync(directory, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGKILL');
      }),
  };
}
