/**
 * `npm run bench:mcp`: MCP server start time and per-call overhead against a direct call (about half a
 * minute). Prints its figures and puts them into bench/results.json (replacing figures of the same names,
 * keeping the others). No Redis, no model.
 */
import os from 'node:os';
import { benchMcp } from './mcp-benchmark.ts';
import { formatTable, mergeResultsJson } from './report.ts';
import { withTimeout } from './support.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);

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
