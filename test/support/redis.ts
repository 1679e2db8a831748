import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { startLocalRedisServer } from '../../src/redis/local-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';

export interface TestRedis {
  url: string;
  /** A connection for assertions; closed by `stop`. */
  client: Redis;
  stop(): Promise<void>;
}

/** A private, non-persistent redis-server for one test file. */
export async function startTestRedis(): Promise<TestRedis> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-redis-'));
  const server = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
  const client = createRedisConnection(server.url);
  return {
    url: server.url,
    client,
    async stop() {
      client.disconnect();
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

let prefixCounter = 0;
/** A key prefix unique to this test, so tests sharing a server never see each other's keys. */
export function uniquePrefix(label = 'test'): string {
  prefixCounter += 1;
  return `${label}-${process.pid}-${prefixCounter}`;
}
