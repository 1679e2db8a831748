import type { BatonConfig } from '../../config/schema.ts';
import type { ToolsetRegistry } from '../toolset-registry.ts';
import { McpConnection, type McpConnectionOptions, type McpServerStatus } from './mcp-connection.ts';
import { McpToolset } from './mcp-toolset.ts';

/**
 * The configured MCP servers of one process: one connection each, none started until a child (or `baton
 * mcp list`) uses it, all stopped on close.
 */
export class McpServers {
  readonly toolsets: McpToolset[] = [];
  private readonly connections = new Map<string, McpConnection>();

  constructor(servers: BatonConfig['mcp_servers'], options: McpConnectionOptions) {
    for (const [name, config] of Object.entries(servers)) {
      const connection = new McpConnection(name, config, options);
      this.connections.set(name, connection);
      this.toolsets.push(new McpToolset(connection, config));
    }
  }

  /** Makes each server a toolset `mcp:<name>` children may name. */
  registerToolsets(registry: ToolsetRegistry): void {
    for (const toolset of this.toolsets)
      registry.registerLoaded(toolset.name, (signal) => toolset.tools(signal));
  }

  names(): string[] {
    return [...this.connections.keys()];
  }

  connection(name: string): McpConnection | undefined {
    return this.connections.get(name);
  }

  /** Each server's state in this process, for /healthz. */
  statuses(): Record<string, McpServerStatus> {
    return Object.fromEntries([...this.connections].map(([name, connection]) => [name, connection.status()]));
  }

  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((connection) => connection.close()));
  }
}
