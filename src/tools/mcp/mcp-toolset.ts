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
  /** Model-facing names of the tools listed under `approval`. */
  private readonly approvalToolNames = new Set<string>();

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

  /**
   * What `baton mcp list` prints: the tools as the model sees them, which need approval, how many the
   * allow-list hides, and allow-listed names the server does not have (a typo in the config).
   */
  async listing(signal?: AbortSignal): Promise<McpToolsetListing> {
    const tools = await this.tools(signal);
    const { tools: listed } = await this.connection.listTools(signal);
    const allowed = this.config.tools;
    const serverNames = new Set(listed.map((tool) => tool.name));
    return {
      tools: tools.map((tool) => ({
        name: tool.name,
        description: tool.description,
        needsApproval: this.approvalToolNames.has(tool.name),
      })),
      hidden: listed.length - tools.length,
      unknownAllowed: allowed ? allowed.filter((name) => !serverNames.has(name)) : [],
    };
  }

  private build(listed: McpTool[]): Tool[] {
    const allowed = this.config.tools;
    const visible = allowed ? listed.filter((tool) => allowed.includes(tool.name)) : listed;
    const taken = new Set<string>();
    this.approvalToolNames.clear();
    return visible.map((tool) => {
      const name = modelToolName(this.connection.name, tool.name, taken);
      if (this.config.approval.includes(tool.name)) this.approvalToolNames.add(name);
      return this.toTool(tool, name);
    });
  }

  private toTool(tool: McpTool, name: string): Tool {
    const connection = this.connection;
    const needsApproval = this.config.approval.includes(tool.name);
    const description = tool.description ?? tool.title ?? `${tool.name} (MCP server ${connection.name})`;
    return defineTool({
      name,
      description: cutText(description, maxDescriptionChars),
      parameters: toModelParameters(tool.inputSchema),
      inputSchema: argumentsSchema,
      // The server says so: a read, or a call that may be repeated with no further effect.
      retrySafe: tool.annotations?.readOnlyHint === true || tool.annotations?.idempotentHint === true,
      // Children park for a person's approval before such a call runs (approvals); it never runs without.
      needsApproval,
      async execute(input, context) {
        if (needsApproval && context.approvedBy === undefined) {
          throw new BatonError(
            'approval_required',
            `${name} needs a person's approval (mcp_servers.${connection.name}.approval), and none was given ` +
              'for this call: it was not run.',
            { fault: 'model' },
          );
        }
        return toModelResult(await connection.callTool(tool.name, input, context.signal));
      },
    });
  }
}

export interface McpToolsetListing {
  tools: Array<{ name: string; description: string; needsApproval: boolean }>;
  /** Tools of the server the allow-list hides. */
  hidden: number;
  /** Allow-listed names the server does not have. */
  unknownAllowed: string[];
}

/**
 * A server's input schema as function parameters providers accept: an object schema with `properties`,
 * without the `$schema` marker.
 */
export function toModelParameters(schema: McpTool['inputSchema']): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
  return { ...rest, type: 'object', properties: rest.properties ?? {} };
}
