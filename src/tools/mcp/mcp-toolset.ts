import { z } from 'zod';
import type { McpServerConfig } from '../../config/schema.ts';
import { BatonError } from '../../errors.ts';
import { cutText } from '../../text/cut-text.ts';
import { defineTool, type Tool } from '../tool.ts';
import type { McpConnection, McpTool } from './mcp-connection.ts';
import { toModelResult } from './mcp-result.ts';
import { modelToolName } from './mcp-tool-names.ts';

/** Longest tool description passed on to the model, in characters. */
const maxDescriptionChars = 1_000;

/** Server names become toolset names with this prefix: `mcp:tracker`. */
export const mcpToolsetPrefix = 'mcp:';

/** The arguments are checked against the server's own JSON Schema by the server; here only: an object. */
const argumentsSchema = z.record(z.string(), z.unknown());

/**
 * The tools of one MCP server, as the model sees them: `<server>__<tool>` names, the server's JSON Schemas,
 * only the allow-listed ones. Built again only when the server's tool list changed.
 */
export class McpToolset {
  private built: { version: number; tools: Tool[] } | null = null;

  constructor(
    private readonly connection: McpConnection,
    private readonly config: McpServerConfig,
  ) {}

  get name(): string {
    return `${mcpToolsetPrefix}${this.connection.name}`;
  }

  /** Starts the server if it is not running yet; throws `mcp_unavailable` when it cannot be started. */
  async tools(signal?: AbortSignal): Promise<Tool[]> {
    const { tools, version } = await this.connection.listTools(signal);
    if (this.built?.version !== version) this.built = { version, tools: this.build(tools) };
    return this.built.tools;
  }

  private build(listed: McpTool[]): Tool[] {
    const allowed = this.config.tools;
    const visible = allowed ? listed.filter((tool) => allowed.includes(tool.name)) : listed;
    const taken = new Set<string>();
    return visible.map((tool) => this.toTool(tool, modelToolName(this.connection.name, tool.name, taken)));
  }

  private toTool(tool: McpTool, name: string): Tool {
    const connection = this.connection;
    const needsApproval = this.config.approval.includes(tool.name);
    const description = tool.description ?? tool.title ?? `${tool.name} (MCP server ${connection.name})`;
    return defineTool({
      name,
      description: cutText(description, maxDescriptionChars, { marker: '…' }),
      parameters: toModelParameters(tool.inputSchema),
      inputSchema: argumentsSchema,
      // The server says so: a read, or a call that may be repeated with no further effect.
      retrySafe: tool.annotations?.readOnlyHint === true || tool.annotations?.idempotentHint === true,
      async execute(input, context) {
        if (needsApproval) {
          throw new BatonError(
            'approval_required',
            `${name} needs a person's approval (mcp_servers.${connection.name}.approval), and approvals are ` +
              'not available yet: it was not run. Do without it, or say in your answer that it is needed.',
            { fault: 'model' },
          );
        }
        return toModelResult(await connection.callTool(tool.name, input, context.signal));
      },
    });
  }
}

/**
 * A server's input schema as function parameters providers accept: an object schema with `properties`,
 * without the `$schema` marker.
 */
export function toModelParameters(schema: McpTool['inputSchema']): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
  return { ...rest, type: 'object', properties: rest.properties ?? {} };
}
