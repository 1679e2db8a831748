import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { isBatonError } from '../errors.ts';
import { runStatus, runStop } from './local-instance-commands.ts';
import { runMcpList } from './mcp-list.ts';
import { runGateway, runStart, runWorker } from './run-commands.ts';

function fail(error: unknown): never {
  // Configuration and set-up problems are the user's to fix: print them plainly, without a stack trace.
  if (isBatonError(error) && error.fault === 'user') {
    process.stderr.write(`baton: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`baton: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command()
  .name('baton')
  .version(packageJson.version)
  .description('Chat gateway whose agents hand work to durable background child agents on Redis.');

program
  .command('start')
  .description('gateway and worker in one process; starts a private redis-server when REDIS_URL is unset')
  .option('--demo', 'use the built-in offline demo model instead of a real one (no API key needed)')
  .action((options: { demo?: boolean }) => runStart({ demo: options.demo === true }).catch(fail));
program
  .command('gateway')
  .description('the chat-facing process (needs REDIS_URL)')
  .option('--demo', 'use the built-in offline demo model (every process of a deployment runs its own)')
  .action((options: { demo?: boolean }) => runGateway({ demo: options.demo === true }).catch(fail));
program
  .command('worker')
  .description('runs child agents from the shared queue (needs REDIS_URL); run as many as you like')
  .option('--demo', 'use the built-in offline demo model and its toolset for children')
  .action((options: { demo?: boolean }) => runWorker({ demo: options.demo === true }).catch(fail));

const mcp = program.command('mcp').description('Model Context Protocol servers (mcp_servers in the config)');
mcp
  .command('list')
  .description(
    'start every configured MCP server and print its tools as the model sees them, or why it failed',
  )
  .action(() =>
    runMcpList()
      .then((code) => process.exit(code))
      .catch(fail),
  );
program
  .command('status')
  .description(
    'whether a `baton start` runs on this data directory, its URLs and health (exit 3 if not running)',
  )
  .action(() =>
    runStatus()
      .then((code) => process.exit(code))
      .catch(fail),
  );
program
  .command('stop')
  .description('stops the `baton start` of this data directory gracefully and waits until it has')
  .action(() =>
    runStop()
      .then((code) => process.exit(code))
      .catch(fail),
  );

await program.parseAsync(process.argv);
