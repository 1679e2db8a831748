/**
 * `npm run bench:workspaces`: checkout creation, step commits, disk per child and sandbox overhead (about a
 * minute). Prints its figures and puts them into bench/results.json (replacing figures of the same names).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './processes.ts';
import { formatTable } from './report.ts';
import type { BenchResult } from './support.ts';
import { benchWorkspaces } from './workspace-benchmark.ts';

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

const loadAtStart = os.loadavg()[0]!;
const results = await benchWorkspaces((line) => log(`  ${line}`));
log('');
log(formatTable(results));
log(`load average ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end`);
log(`results: ${mergeResultsJson(results)}`);
