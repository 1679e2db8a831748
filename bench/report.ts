/** The benchmark report: a table on stdout, bench/results.json, and the figures block of bench/README.md. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './processes.ts';
import type { BenchResult } from './support.ts';

export interface Failure {
  benchmark: string;
  error: string;
}

export interface Machine {
  nproc: number;
  cpu: string;
  memoryGb: number;
  node: string;
  redis: string;
  os: string;
  date: string;
  /** 1-minute load averages when the run started and ended: other work on the machine skews the figures. */
  load: { start: number; end: number };
}

export function describeMachine(loadAtStart: number): Machine {
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const redisVersion = /v=(\S+)/.exec(redis.stdout ?? '')?.[1] ?? 'unknown';
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    redis: redisVersion,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    load: { start: loadAtStart, end: os.loadavg()[0]! },
  };
}

function verdict(result: BenchResult): string {
  if (result.met === undefined) return '';
  return result.met ? 'met' : 'MISSED';
}

export function formatTable(results: BenchResult[]): string {
  const rows = [
    ['figure', 'value', 'unit', 'goal', ''],
    ...results.map((result) => [
      result.name,
      String(result.value),
      result.unit,
      result.goal ?? '',
      verdict(result),
    ]),
  ];
  const widths = rows[0]!.map((_unused, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, column) => (column === 1 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), line(widths.map((width) => '-'.repeat(width))), ...rows.slice(1).map(line)].join(
    '\n',
  );
}

export function writeResultsJson(results: BenchResult[]): string {
  const file = path.join(projectRoot, 'bench/results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

/**
 * The figures of bench/results.json with those of `results` put in place of the figures of the same name
 * (new names at the end): what a partial run with `--merge` records.
 */
export function mergedResults(results: BenchResult[]): BenchResult[] {
  const file = path.join(projectRoot, 'bench/results.json');
  const current = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResult[]) : [];
  const byName = new Map(results.map((result) => [result.name, result]));
  const merged = current.map((result) => byName.get(result.name) ?? result);
  const known = new Set(current.map((result) => result.name));
  return [...merged, ...results.filter((result) => !known.has(result.name))];
}

/** Puts `results` into bench/results.json in place of the figures of the same name, keeping the others. */
export function mergeResultsJson(results: BenchResult[]): string {
  return writeResultsJson(mergedResults(results));
}

const startMarker = '<!-- bench:results:start -->';
const endMarker = '<!-- bench:results:end -->';

function markdownBlock(
  results: BenchResult[],
  failures: Failure[],
  machine: Machine,
  remeasured: string[] | null,
  standalone: string[],
): string {
  const escapeCell = (text: string) => text.replace(/\|/g, '\\|');
  const which = remeasured
    ? ` (a partial run, \`--merge\`: only ${remeasured.map((name) => `\`${name}\``).join(', ')} re-measured; ` +
      'the other figures are those of the run before)'
    : standalone.length > 0
      ? ` (every benchmark of \`npm run bench\`; ${standalone.map((name) => `\`${name}\``).join(', ')} are ` +
        'from the last run of their own commands: `npm run soak`, `bench:*`)'
      : '';
  const lines = [
    startMarker,
    `Last run${which}: ${machine.date} — ${machine.nproc} CPU(s) (\`nproc\`), ${escapeCell(machine.cpu)}, ` +
      `${machine.memoryGb} GB RAM, Node ${machine.node}, redis-server ${machine.redis}, ${machine.os}; ` +
      `1-minute load average ${machine.load.start.toFixed(2)} at the start, ${machine.load.end.toFixed(2)} at the end` +
      `${Math.max(machine.load.start, machine.load.end) > machine.nproc / 2 ? ' (other work was running: figures are skewed)' : ''}.`,
    '',
    '| figure | value | unit | goal | |',
    '| --- | ---: | --- | --- | --- |',
    ...results.map(
      (result) =>
        `| \`${result.name}\` | ${result.value} | ${result.unit} | ${escapeCell(result.goal ?? '')} | ${verdict(result)} |`,
    ),
  ];
  if (failures.length > 0) {
    lines.push('', '**Benchmarks that crashed in this run:**', '');
    for (const failure of failures)
      lines.push(`- ${failure.benchmark}: ${escapeCell(failure.error.split('\n')[0]!)}`);
  }
  lines.push(
    '',
    'How each figure was obtained in this run (also in `bench/results.json`, field `notes`):',
    '',
  );
  for (const result of results) if (result.notes) lines.push(`- \`${result.name}\`: ${result.notes}`);
  lines.push(endMarker);
  return lines.join('\n');
}

/**
 * Replaces the figures block of bench/README.md (between its markers), keeping the prose around it.
 * `remeasured` names the figures a partial run (`--merge`) measured; null for a full run.
 */
export function updateReadme(
  results: BenchResult[],
  failures: Failure[],
  machine: Machine,
  remeasured: string[] | null = null,
  standalone: string[] = [],
): string {
  const file = path.join(projectRoot, 'bench/README.md');
  const block = markdownBlock(results, failures, machine, remeasured, standalone);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Baton benchmarks\n';
  const start = current.indexOf(startMarker);
  const end = current.indexOf(endMarker);
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${block}${current.slice(end + endMarker.length)}`
      : `${current.trimEnd()}\n\n## Last figures\n\n${block}\n`;
  writeFileSync(file, next);
  return file;
}
