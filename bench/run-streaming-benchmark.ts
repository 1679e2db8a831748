/**
 * `npm run bench:streaming`: streamed replies on the console, the fake Discord and the fake Slack (about
 * two minutes): Baton's own delay before the first text and platform calls per 1,000-token reply. Prints
 * its figures and puts them into bench/results.json (replacing figures of the same names, keeping others).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import { formatTable, mergeResultsJson } from './report.ts';
import { benchStreaming } from './streaming-benchmark.ts';
import { withTimeout } from './support.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-redis-'));
  const redis = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
  try {
    log(
      `bench: streaming (${os.availableParallelism()} CPU(s), Node ${process.version}, load ${loadAtStart.toFixed(2)})`,
    );
    const results = await withTimeout(
      benchStreaming({ redisUrl: redis.url, redisPid: redis.pid, log: (line) => log(`  ${line}`) }),
      600_000,
      'streaming',
    );
    log('');
    log(formatTable(results));
    log('');
    log(`results: ${mergeResultsJson(results)} (load at the end ${os.loadavg()[0]!.toFixed(2)})`);
    return 0;
  } catch (error) {
    process.stderr.write(
      `bench: streaming CRASHED: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    return 1;
  } finally {
    await redis.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

process.exit(await main());
