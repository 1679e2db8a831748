/**
 * `npm run bench:workspaces`: checkout creation, step commits, disk per child and sandbox overhead (about a
 * minute). Prints its figures and puts them into bench/results.json (replacing figures of the same names).
 */
import os from 'node:os';
import { formatTable, mergeResultsJson } from './report.ts';
import { benchWorkspaces } from './workspace-benchmark.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);

const loadAtStart = os.loadavg()[0]!;
const measured = await benchWorkspaces((line) => log(`  ${line}`));
const load = `load average ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end (${os.cpus().length} cores)`;
// The machine's load weighs on every figure: it goes into the notes with them.
const results = measured.map((result) => ({ ...result, notes: `${result.notes}. Run at ${load}` }));
log('');
log(formatTable(results));
log(load);
log(`results: ${mergeResultsJson(results)}`);
