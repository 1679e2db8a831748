/**
 * `npm run bench:mcp`: MCP server start time and per-call overhead against a direct call (about half a
 * minute). Prints its figures and puts them into bench/results.json (replacing figures of the same names,
 * keeping the others). No Redis, no model.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchMcp } from './mcp-benchmark.ts';
import { projectRoot } from './processes.ts';
import { formatTable } from './report.ts';
import { type BenchResult, withTimeout } from './support.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);

function mergeResultsJson(results: BenchResult[]): string {
  const file = path.join(projectRoot, 'bench/results.json');
  const current = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResult[]) : [];
  const names = new Set(results.map((result) => result.name));
  writeFileSync(
    file,
    `${JSON.stringify([...current.filter((result) => !names.has(result.name)), ...results], null, 2)}\n`,
  );
  return file;
}

async function main(): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  try {
    log(
      `bench: mcp (${os.availableParallelism()} CPU(s), Node ${process.version}, load ${loadAtStart.toFixed(2)})`,
    );
    const results = await withTimeout(benchMcp({ log: (line) => log(`  ${line}`) }), 300_000, 'mcp');
    log('');
    log(formatTable(results));
    log('');
    log(`results: ${mergeResultsJson(results)} (load at the end ${os.loadavg()[0]!.toFixed(2)})`);
    return 0;
  } catch (error) {
    process.stderr.write(`bench: mcp CRASHED: ${error instanceof Error ? error.stack : String(error)}\n`);
    return 1;
  }
}

process.exit(await main());
