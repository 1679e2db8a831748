/**
 * `npm run bench:retention`: the bounded-Redis benchmark alone (about 2–3 minutes), on a private,
 * non-persistent redis-server. Prints its figures, puts them into bench/results.json (replacing figures of
 * the same names, keeping the others) and rewrites the retention block of bench/README.md.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRedisServer } from '../src/redis/local-redis-server.ts';
import { projectRoot } from './processes.ts';
import { formatTable, mergeResultsJson } from './report.ts';
import { benchRetention } from './retention-benchmark.ts';
import { type BenchResult, CleanupStack, withTimeout } from './support.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);
const startMarker = '<!-- bench:retention:start -->';
const endMarker = '<!-- bench:retention:end -->';

function updateRetentionBlock(results: BenchResult[], loadAtStart: number): string {
  const file = path.join(projectRoot, 'bench/README.md');
  const lines = [
    startMarker,
    `Last run of \`npm run bench:retention\`: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, ` +
      `${os.availableParallelism()} CPU(s), Node ${process.version}; 1-minute load average ` +
      `${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end.`,
    '',
    '| figure | value | unit | goal |',
    '| --- | ---: | --- | --- |',
    ...results.map(
      (result) => `| \`${result.name}\` | ${result.value} | ${result.unit} | ${result.goal ?? ''} |`,
    ),
    '',
    ...results.filter((result) => result.notes).map((result) => `- \`${result.name}\`: ${result.notes}`),
    endMarker,
  ];
  const current = readFileSync(file, 'utf8');
  const start = current.indexOf(startMarker);
  const end = current.indexOf(endMarker);
  const block = lines.join('\n');
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${block}${current.slice(end + endMarker.length)}`
      : `${current.trimEnd()}\n\n## Bounded Redis (last standalone run)\n\n${block}\n`;
  writeFileSync(file, next);
  return file;
}

async function main(): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const cleanup = new CleanupStack();
  try {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-redis-'));
    cleanup.add('remove redis directory', () => rmSync(directory, { recursive: true, force: true }));
    const redis = await startLocalRedisServer({ dataDirectory: directory, persistent: false });
    cleanup.add('stop redis-server', () => redis.stop());
    log(`bench: redis-server on ${redis.url} (pid ${redis.pid}); retention …`);
    const results = await withTimeout(
      benchRetention({ redisUrl: redis.url, redisPid: redis.pid, log: (line) => log(`  ${line}`) }),
      600_000,
      'retention',
    );
    log('');
    log(formatTable(results));
    log('');
    log(`results: ${mergeResultsJson(results)}`);
    log(`readme:  ${updateRetentionBlock(results, loadAtStart)}`);
    return 0;
  } catch (error) {
    process.stderr.write(
      `bench: retention CRASHED: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    return 1;
  } finally {
    await cleanup.run();
  }
}

process.exit(await main());
