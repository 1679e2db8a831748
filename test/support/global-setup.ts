import { hasRedisServerBinary } from '../../src/redis/local-redis-server.ts';

/** Fails fast with the fix when the machine lacks what the tests run against. */
export default function globalSetup(): void {
  if (!hasRedisServerBinary()) {
    throw new Error(
      'The tests need redis-server on PATH: apt-get install -y redis-server (or brew install redis).',
    );
  }
}
