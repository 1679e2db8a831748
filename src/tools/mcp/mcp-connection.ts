import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { DEFAULT_INHERITED_ENV_VARS, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Tool as McpTool,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../../config/schema.ts';
import { BatonError, describeError } from '../../errors.ts';
import type { Logger } from '../../logging/logger.ts';
import { redactSecrets } from '../../logging/redact-secrets.ts';
import { untilAborted } from '../../until-aborted.ts';
import { resolveCommand } from './resolve-command.ts';

export type { McpTool };

/** Where a server connection stands, for /healthz and `baton mcp list`. */
export type McpServerState = 'idle' | 'starting' | 'ready' | 'restarting' | 'failed' | 'closed';

export interface McpServerStatus {
  state: McpServerState;
  transport: 'stdio' | 'http';
  /** Tools the server listed (before the allow-list); null until it was listed once. */
  tools: number | null;
  /** Times the connection was lost and started again. */
  restarts: number;
  /** Why it last failed or stopped. */
  error?: string;
  /** How long the last start took (spawn or connect, initialize, tools/list), in ms. */
  start_ms?: number;
}

export interface McpConnectionOptions {
  /** Where the environment a stdio server may be given comes from (Baton's own). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

/** A connection that lived this long counts as healthy: its loss restarts the backoff from the start. */
const healthyUptimeMs = 30_000;
const firstBackoffMs = 250;
const maxBackoffMs = 30_000;
/** Restarts tried on their own after a loss; past this a server is started again only when a call needs it. */
const maxEagerRestarts = 5;
/** How long a server that let a call time out has to answer a ping before it counts as hung. */
const pingTimeoutMs = 5_000;
/** How much of a stdio server's stderr is kept, to say why it stopped. */
const stderrTailChars = 600;

/**
 * One MCP server as seen by this process: at most one connection, started on first use and started again
 * with backoff when it is lost (the server crashed, or hung past a call's time-out and was killed). Its
 * tool list is cached and refreshed when the server says it changed. Calls in flight when the connection is
 * lost fail with a tool error; a call whose signal aborts sends `notifications/cancelled` (the SDK does).
 */
export class McpConnection {
  private client: Client | null = null;
  private transport: Transport | null = null;
  private connecting: Promise<Client> | null = null;
  private toolList: McpTool[] | null = null;
  /** Grows whenever the tool list is replaced, so toolsets rebuild their tools only then. */
  private listVersion = 0;
  private state: McpServerState = 'idle';
  private failures = 0;
  private retryAt = 0;
  private connectedAt = 0;
  private restarts = 0;
  private lastError: string | undefined;
  private startMs: number | undefined;
  private stderrTail = '';
  private restartTimer: NodeJS.Timeout | null = null;
  /** A ping under way after a failed call; calls wait for it. */
  private healthCheck: Promise<void> | null = null;
  private readonly timeoutMs: number;

  constructor(
    readonly name: string,
    readonly config: McpServerConfig,
    private readonly options: McpConnectionOptions,
  ) {
    this.timeoutMs = config.timeout_s * 1000;
  }

  get transportKind(): 'stdio' | 'http' {
    return 'command' in this.config ? 'stdio' : 'http';
  }

  /** The stdio server's process id while it runs (null for HTTP servers and when not running). */
  get pid(): number | null {
    return this.transport instanceof StdioClientTransport ? this.transport.pid : null;
  }

  status(): McpServerStatus {
    return {
      state: this.state,
      transport: this.transportKind,
      tools: this.toolList?.length ?? null,
      restarts: this.restarts,
      ...(this.lastError ? { error: this.lastError } : {}),
      ...(this.startMs !== undefined ? { start_ms: this.startMs } : {}),
    };
  }

  /** The server's tools, listed when it started and kept up to date; starts the server when needed. */
  async listTools(signal?: AbortSignal): Promise<{ tools: McpTool[]; version: number }> {
    await this.connected(signal);
    return { tools: this.toolList ?? [], version: this.listVersion };
  }

  /** Calls one tool. Failures of the server (not of the tool) are BatonErrors the model reads as tool errors. */
  async callTool(
    toolName: string,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    const client = await this.connected(signal);
    try {
      return (await client.callTool({ name: toolName, arguments: args }, undefined, {
        signal,
        timeout: this.timeoutMs,
      })) as CallToolResult;
    } catch (error) {
      // Cancelled or out of time in the agent: the SDK has told the server (notifications/cancelled).
      if (signal.aborted) throw signal.reason ?? error;
      const timedOut = error instanceof McpError && error.code === ErrorCode.RequestTimeout;
      // Not an answer of the server (those are McpErrors): the transport failed, e.g. an HTTP server that
      // restarted and forgot the session, or that is down.
      const unreachable = !(error instanceof McpError);
      if (timedOut || unreachable) this.checkHealth(client);
      if (timedOut) {
        throw new BatonError(
          'mcp_call_failed',
          `${toolName} on MCP server "${this.name}" did not answer within ${this.config.timeout_s} s`,
        );
      }
      if (
        this.client !== client ||
        (error instanceof McpError && error.code === ErrorCode.ConnectionClosed)
      ) {
        throw new BatonError(
          'mcp_call_failed',
          `MCP server "${this.name}" stopped during the call (it is being started again); the call may or ` +
            'may not have taken effect',
        );
      }
      if (unreachable) {
        throw new BatonError(
          'mcp_call_failed',
          `MCP server "${this.name}" could not be reached (${describeError(error)}); it is checked and ` +
            'connected again if needed',
        );
      }
      throw new BatonError('mcp_call_failed', `MCP server "${this.name}": ${describeError(error)}`);
    }
  }

  /** A method, not a field read, so TypeScript does not narrow it away across awaits. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Stops the server (or the HTTP session) for good. */
  async close(): Promise<void> {
    this.state = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const transport = this.transport;
    this.client = null;
    this.transport = null;
    await transport?.close().catch(() => undefined);
  }

  /**
   * The live client, starting the server first if needed (after the backoff of a recent failure). While a
   * failed call has the server checked, new calls wait for the verdict instead of using a dead connection.
   */
  private async connected(signal?: AbortSignal): Promise<Client> {
    if (this.healthCheck) await (signal ? untilAborted(this.healthCheck, signal) : this.healthCheck);
    if (this.client) return this.client;
    if (this.state === 'closed') {
      throw new BatonError('mcp_unavailable', `MCP server "${this.name}" is shut down`);
    }
    this.connecting ??= this.connectWhenDue().finally(() => {
      this.connecting = null;
    });
    return signal ? untilAborted(this.connecting, signal) : this.connecting;
  }

  private async connectWhenDue(): Promise<Client> {
    const wait = this.retryAt - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (this.state === 'closed')
      throw new BatonError('mcp_unavailable', `MCP server "${this.name}" is shut down`);
    this.state = this.restarts > 0 ? 'restarting' : 'starting';
    const started = performance.now();
    const transport = this.createTransport();
    const client = new Client(
      { name: 'baton', version: '0.1.0' },
      {
        capabilities: {},
        listChanged: {
          tools: {
            // A burst of changes (a server registering several tools) is listed once.
            debounceMs: 100,
            onChanged: (error, tools) => {
              if (error || !tools || this.client !== client) return;
              this.toolList = tools;
              this.listVersion += 1;
              this.options.logger.info(
                { mcpServer: this.name, tools: tools.length },
                'MCP tool list changed',
              );
            },
          },
        },
      },
    );
    client.onclose = () => this.onConnectionLost(client);
    try {
      await client.connect(transport, { timeout: this.timeoutMs });
      this.transport = transport;
      const tools = await this.listAllTools(client);
      // Shut down while it was starting: it must not outlive close().
      if (this.isClosed()) throw new Error('shut down while starting');
      this.client = client;
      this.toolList = tools;
      this.listVersion += 1;
    } catch (error) {
      this.transport = null;
      await transport.close().catch(() => undefined);
      if (this.isClosed()) {
        throw new BatonError('mcp_unavailable', `MCP server "${this.name}" is shut down`);
      }
      this.failures += 1;
      this.retryAt = Date.now() + backoffMs(this.failures);
      this.state = 'failed';
      this.lastError = redactSecrets(`${describeError(error)}${this.stderrNote()}`);
      this.options.logger.warn({ mcpServer: this.name, error: this.lastError }, 'MCP server failed to start');
      throw new BatonError(
        'mcp_unavailable',
        `MCP server "${this.name}" could not be started: ${this.lastError}`,
      );
    }
    this.startMs = Math.round(performance.now() - started);
    this.connectedAt = Date.now();
    this.state = 'ready';
    this.lastError = undefined;
    this.options.logger.info(
      { mcpServer: this.name, tools: this.toolList?.length, startMs: this.startMs, pid: this.pid },
      'MCP server ready',
    );
    return client;
  }

  private async listAllTools(client: Client): Promise<McpTool[]> {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: this.timeoutMs });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return tools;
  }

  private createTransport(): Transport {
    const config = this.config;
    if ('url' in config) {
      return new StreamableHTTPClientTransport(new URL(config.url), {
        requestInit: { headers: config.headers },
      });
    }
    this.stderrTail = '';
    const transport = new StdioClientTransport({
      command: resolveCommand(config.command, config.cwd, this.options.env),
      args: config.args,
      ...(config.cwd ? { cwd: config.cwd } : {}),
      env: onlyListedEnvironment(config.env, this.options.env),
      stderr: 'pipe',
    });
    // Read always: a pipe nobody reads fills up and stops the server.
    transport.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-stderrTailChars);
    });
    return transport;
  }

  /** The server's own word on why it stopped: its error line if it printed one, else its last line. */
  private stderrNote(): string {
    const lines = this.stderrTail
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '');
    const said = lines.find((line) => /^\w*Error\b/.test(line)) ?? lines.at(-1);
    return said ? ` (stderr: ${said})` : '';
  }

  /** The connection closed without close(): the server crashed or was killed. Start it again, with backoff. */
  private onConnectionLost(client: Client): void {
    if (this.client !== client) return;
    this.client = null;
    this.transport = null;
    if (this.state === 'closed') return;
    if (Date.now() - this.connectedAt >= healthyUptimeMs) this.failures = 0;
    this.failures += 1;
    this.restarts += 1;
    this.retryAt = Date.now() + backoffMs(this.failures);
    this.lastError = redactSecrets(`the server stopped${this.stderrNote()}`);
    const eager = this.failures <= maxEagerRestarts;
    this.state = eager ? 'restarting' : 'failed';
    this.options.logger.warn(
      {
        mcpServer: this.name,
        restarts: this.restarts,
        retryInMs: this.retryAt - Date.now(),
        error: this.lastError,
      },
      eager
        ? 'MCP server connection lost; starting it again'
        : 'MCP server keeps stopping; started again on next use',
    );
    if (eager) {
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.connected().catch(() => undefined);
      }, 0);
      this.restartTimer.unref();
    }
  }

  /**
   * After a call timed out or the transport failed: a server that does not answer a ping either is hung or
   * gone, and its connection is closed (a stdio server killed) so that it is started again.
   */
  private checkHealth(client: Client): void {
    if (this.healthCheck || this.client !== client) return;
    this.healthCheck = (async () => {
      try {
        await client.ping({ timeout: pingTimeoutMs });
      } catch {
        if (this.client !== client) return;
        this.options.logger.warn({ mcpServer: this.name }, 'MCP server does not answer; restarting it');
        // Closing the transport kills a stdio server; onclose then starts it again.
        await this.transport?.close().catch(() => undefined);
        // A transport that closed without saying so (some HTTP failures) is dropped here all the same.
        if (this.client === client) this.onConnectionLost(client);
      }
    })().finally(() => {
      this.healthCheck = null;
    });
  }
}

function backoffMs(failures: number): number {
  return Math.min(maxBackoffMs, firstBackoffMs * 2 ** Math.max(0, failures - 1));
}

/**
 * The environment of a stdio server: exactly the variables its config lists, taken from Baton's. The SDK
 * adds a few of its own choosing (HOME, PATH, USER…) to whatever it is given; those not listed are set to
 * undefined, which Node leaves out of the child's environment.
 */
export function onlyListedEnvironment(names: string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const environment: Record<string, string | undefined> = {};
  for (const name of DEFAULT_INHERITED_ENV_VARS) environment[name] = undefined;
  for (const name of names) if (env[name] !== undefined) environment[name] = env[name];
  return environment as Record<string, string>;
}
