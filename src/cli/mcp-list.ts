import { loadConfig } from '../config/load-config.ts';
import type { McpServerConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import { createLogger } from '../logging/logger.ts';
import { cutText } from '../text/cut-text.ts';
import { McpServers } from '../tools/mcp/mcp-servers.ts';

/** Longest description shown per tool, in characters (the first line only). */
const descriptionChars = 90;

function describeServer(config: McpServerConfig): string {
  if ('url' in config) return `http ${config.url}`;
  return `stdio: ${[config.command, ...config.args].join(' ')}`;
}

function firstLine(text: string): string {
  return cutText(text.split('\n')[0]!.trim(), descriptionChars);
}

/**
 * `baton mcp list`: starts every configured MCP server, prints its tools as the model will see them (or why
 * it failed), and stops them again. Exit code 1 when any server failed.
 */
export async function runMcpList(
  write: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> {
  const config = loadConfig();
  // Log lines (stderr) only when asked for with LOG_LEVEL; stdout is the listing.
  const logger = createLogger({ level: process.env.LOG_LEVEL ? config.log.level : 'silent' });
  const servers = new McpServers(config.mcp_servers, { env: process.env, logger });
  if (servers.toolsets.length === 0) {
    write('No MCP servers configured (mcp_servers in the config; see the README, "Adding an MCP server").\n');
    return 0;
  }
  let failed = 0;
  try {
    const listings = await Promise.all(
      servers.toolsets.map(async (toolset) => {
        try {
          return { toolset, listing: await toolset.listing() };
        } catch (error) {
          return { toolset, error: describeError(error) };
        }
      }),
    );
    for (const entry of listings) {
      const name = entry.toolset.name.slice('mcp:'.length);
      const serverConfig = config.mcp_servers[name]!;
      const status = servers.connection(name)!.status();
      write(`${entry.toolset.name}  (${describeServer(serverConfig)})\n`);
      if ('error' in entry) {
        failed += 1;
        write(`  failed: ${entry.error}\n\n`);
        continue;
      }
      const { listing } = entry;
      write(`  ready in ${status.start_ms ?? '?'} ms, ${listing.tools.length} tool(s)`);
      write(listing.hidden > 0 ? `, ${listing.hidden} hidden by the allow-list\n` : '\n');
      for (const tool of listing.tools) {
        const approval = tool.needsApproval ? '  [needs approval]' : '';
        write(`    ${tool.name}  ${firstLine(tool.description)}${approval}\n`);
      }
      if (listing.unknownAllowed.length > 0) {
        write(
          `  warning: the allow-list names tools the server does not have: ${listing.unknownAllowed.join(', ')}\n`,
        );
      }
      write('\n');
    }
  } finally {
    await servers.close();
  }
  return failed > 0 ? 1 : 0;
}
