import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { portIsOpen } from '../support/port-is-open.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake } = useTestEnvironment();
const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-leftover-'));
const processes: BatonProcess[] = [];

afterAll(async () => {
  for (const started of processes) started.child.kill('SIGTERM');
  await Promise.all(processes.map((started) => started.exited));
  rmSync(directory, { recursive: true, force: true });
});

const privateRedisPort = (output: string) => Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1]);

describe('baton start after being killed outright', () => {
  it('stops the private redis-server its killed predecessor left running, and keeps its data', async () => {
    const layer = testConfigLayer(fake, {
      redis: { local_data_dir: path.join(directory, 'redis') },
      console: { port: 0 },
    });
    // No REDIS_URL: `baton start` runs its own private redis-server in the data directory above.
    const first = await spawnBatonProcess('start', null, layer);
    const firstPort = privateRedisPort(first.output());
    const client = createRedisConnection(`redis://127.0.0.1:${firstPort}`);
    await client.set('survives-the-kill', 'yes');
    client.disconnect();
    first.child.kill('SIGKILL');
    await first.exited;
    // A SIGKILL cannot be caught: the redis-server is still there.
    expect(await portIsOpen(firstPort)).toBe(true);

    const second = await spawnBatonProcess('start', null, layer);
    processes.push(second);
    const secondPort = privateRedisPort(second.output());
    expect(secondPort).not.toBe(firstPort);
    await eventually(
      async () => ((await portIsOpen(firstPort)) ? undefined : true),
      10_000,
      'the leftover to stop',
    );
    const reader = createRedisConnection(`redis://127.0.0.1:${secondPort}`);
    try {
      expect(await reader.get('survives-the-kill')).toBe('yes');
    } finally {
      reader.disconnect();
    }
  });
});
