import type { Redis, RedisOptions } from 'ioredis';
import type { BatonConfig } from '../config/schema.ts';
import type { ModelClient } from '../llm/model-client.ts';
import type { ModelCallRecord } from '../llm/openai-model-client.ts';
import { createOpenAIModelClient } from '../llm/openai-model-client.ts';
import type { Logger } from '../logging/logger.ts';
import { retentionSecondsOf } from '../redis/key-lifetimes.ts';
import { RedisAvailability } from '../redis/redis-availability.ts';
import { createRedisConnection, displayRedisUrl } from '../redis/redis-connection.ts';
import { RedisKeys } from '../redis/redis-keys.ts';
import type { UsageWrite } from '../redis/usage-write.ts';
import { SessionStore } from '../sessions/session-store.ts';
import type { TaskAuthorizer } from '../tasks/task-access.ts';
import { TaskQueue } from '../tasks/task-queue.ts';
import { delegationToolsetName, type TaskRecord } from '../tasks/task-record.ts';
import { TaskService } from '../tasks/task-service.ts';
import { TaskSignals } from '../tasks/task-signals.ts';
import { TaskStore } from '../tasks/task-store.ts';
import { cutText } from '../text/cut-text.ts';
import { createDelegationTools } from '../tools/delegation/delegation-toolset.ts';
import { createFileToolset } from '../tools/file/file-toolset.ts';
import { McpServers } from '../tools/mcp/mcp-servers.ts';
import { askUserToolName, createAskUserTool } from '../tools/people/ask-user-tool.ts';
import { checkSandboxAvailable } from '../tools/terminal/sandbox-command.ts';
import { createTerminalToolset } from '../tools/terminal/terminal-toolset.ts';
import type { Tool } from '../tools/tool.ts';
import { ToolsetRegistry } from '../tools/toolset-registry.ts';
import { closePageTextPool } from '../tools/web/page-text-pool.ts';
import { createWebToolset } from '../tools/web/web-toolset.ts';
import { WorkspaceStore } from '../tools/workspace/workspace-store.ts';
import { BudgetGuard } from '../usage/budget-guard.ts';
import { meteredModel } from '../usage/metered-model-client.ts';
import { UsageLedger, type UsageScope } from '../usage/usage-ledger.ts';
import { ChildWorker } from '../worker/child-worker.ts';
import { QueueReconciler } from '../worker/queue-reconciler.ts';
import { RetentionSweeper } from './retention-sweeper.ts';

export interface BatonRuntimeOptions {
  config: BatonConfig;
  redisUrl: string;
  /** Sentinel settings (redisTargetOf) added to every connection; default none (a plain URL). */
  redisOptions?: RedisOptions;
  /** How Redis is named in logs; default the URL without its password. */
  redisDisplay?: string;
  logger: Logger;
  /** Replaces the OpenAI-compatible client (tests use scripted models through the real client instead). */
  model?: ModelClient;
  env?: NodeJS.ProcessEnv;
  onModelCall?: (record: ModelCallRecord) => void;
  /**
   * Who may look at or control a task through the delegation tools: the gateway's AccessPolicy (the
   * composition root passes it). Default: the task's owner only.
   */
  authorizer?: TaskAuthorizer;
  /** How often the retention sweeper tries a sweep, in ms (default 60 s). */
  retentionSweepIntervalMs?: number;
  /**
   * Toolsets beside `web` and `delegation`, by name: `baton start --demo` adds the offline demo's `demo`.
   * Children may name them, and the delegation tools list them as available.
   */
  extraToolsets?: Record<string, () => Tool[]>;
}

/**
 * Everything below the chat platforms, wired once per process: Redis connections, the task store,
 * signals, queue, toolsets, the task service, the model client, and (on demand) a child worker.
 */
export class BatonRuntime {
  readonly config: BatonConfig;
  readonly logger: Logger;
  readonly keys: RedisKeys;
  readonly redis: Redis;
  readonly store: TaskStore;
  /** The conversations' state: threads, histories, pending turns, checkpoints, boards. */
  readonly sessions: SessionStore;
  readonly signals: TaskSignals;
  readonly queue: TaskQueue;
  readonly toolsets = new ToolsetRegistry();
  /** Task checkouts and their snapshots in the store (workspaces.*, workspace.*). */
  readonly workspaces: WorkspaceStore;
  readonly service: TaskService;
  readonly model: ModelClient;
  /** Tokens and cost per day, person, channel, task and route. */
  readonly usage: UsageLedger;
  /** The daily budgets of quotas.*. */
  readonly budgets: BudgetGuard;
  /** The configured MCP servers (toolsets `mcp:<name>`), each started in this process on first use. */
  readonly mcp: McpServers;
  /** Whether Redis answers right now, reported once per change of state (health, console banner, log). */
  readonly redisAvailability: RedisAvailability;
  private readonly subscriber: Redis;
  private readonly queueConnection: Redis;
  private readonly workers: ChildWorker[] = [];
  private readonly workerConnections: Redis[] = [];
  private reconciler: QueueReconciler | null = null;
  /** `ask_user`, which every child gets besides its toolsets. */
  private readonly askUserTool: Tool;
  private workspaceSweep: NodeJS.Timeout | null = null;
  /** Removes expired tasks from the indexes and idle threads; every process runs one, one sweeps at a time. */
  readonly sweeper: RetentionSweeper;

  constructor(private readonly options: BatonRuntimeOptions) {
    const { config, redisUrl, logger } = options;
    this.config = config;
    this.logger = logger;
    this.keys = new RedisKeys(config.redis.prefix);
    const redisOptions = options.redisOptions ?? {};
    this.redis = createRedisConnection(redisUrl, { ...redisOptions, connectionName: 'baton-commands' });
    this.subscriber = createRedisConnection(redisUrl, { ...redisOptions, connectionName: 'baton-signals' });
    this.queueConnection = createRedisConnection(redisUrl, {
      ...redisOptions,
      connectionName: 'baton-queue',
    });
    this.redisAvailability = new RedisAvailability(
      this.redis,
      logger,
      options.redisDisplay ?? displayRedisUrl(redisUrl),
    );
    this.store = new TaskStore({
      redis: this.redis,
      keys: this.keys,
      maxEventsPerTask: config.delegation.max_events_per_task,
      retentionSeconds: retentionSecondsOf(config.redis.retention_days),
    });
    this.sessions = new SessionStore({
      redis: this.redis,
      keys: this.keys,
      retentionSeconds: this.store.retentionSeconds,
      history: {
        tokenBudget: config.gateway.history_token_budget,
        maxMessages: config.gateway.max_history_messages,
      },
      maxTurnsPerUser: config.quotas.max_turns_per_user,
      logger,
    });
    this.sweeper = new RetentionSweeper({
      redis: this.redis,
      keys: this.keys,
      retentionSeconds: this.store.retentionSeconds,
      logger,
      ...(options.retentionSweepIntervalMs ? { intervalMs: options.retentionSweepIntervalMs } : {}),
    });
    this.signals = new TaskSignals(this.redis, this.subscriber, this.keys, logger);
    this.queue = new TaskQueue(this.queueConnection, config.redis.prefix);
    this.usage = new UsageLedger(this.redis, this.keys, this.store.retentionSeconds);
    this.budgets = new BudgetGuard(this.usage, config.quotas);
    this.service = new TaskService({
      budgets: this.budgets,
      config,
      store: this.store,
      queue: this.queue,
      signals: this.signals,
      toolsets: this.toolsets,
      logger,
      ...(options.authorizer ? { authorizer: options.authorizer } : {}),
    });
    this.toolsets.register('web', () => createWebToolset(config.tools));
    // Never a silent fallback: without bwrap (and sandbox: bubblewrap) this throws rather than run bare.
    this.toolsets.register('terminal', () =>
      createTerminalToolset(
        config.tools.terminal,
        checkSandboxAvailable(config.tools.terminal, () => {}),
      ),
    );
    this.toolsets.register('file', () => createFileToolset());
    for (const [name, createTools] of Object.entries(options.extraToolsets ?? {})) {
      this.toolsets.register(name, createTools);
    }
    this.mcp = new McpServers(config.mcp_servers, { env: options.env ?? process.env, logger });
    this.mcp.registerToolsets(this.toolsets);
    this.workspaces = new WorkspaceStore(config.workspaces, config.workspace, undefined, {
      warn: (message) => logger.warn(message),
    });
    this.askUserTool = createAskUserTool(config.delegation.ask_user_timeout_s);
    this.toolsets.register(delegationToolsetName, () =>
      createDelegationTools(this.service, config, this.workspaces),
    );
    this.model =
      options.model ??
      createOpenAIModelClient({
        models: config.models,
        redis: this.redis,
        keys: this.keys,
        logger,
        ...(options.env ? { env: options.env } : {}),
        ...(options.onModelCall ? { onCall: options.onModelCall } : {}),
      });
  }

  /**
   * The model client of one agent run: budgets checked before each call, usage counted after it (or, with
   * `deferUsage`, handed there for a script to count; see MeteringOptions.defer).
   */
  modelFor(scope: UsageScope & { userName?: string }, deferUsage?: (write: UsageWrite) => void): ModelClient {
    return meteredModel(this.model, scope, {
      ledger: this.usage,
      guard: this.budgets,
      models: this.config.models,
      logger: this.logger,
      ...(deferUsage ? { defer: deferUsage } : {}),
    });
  }

  async start(): Promise<void> {
    await this.redis.ping();
    await this.signals.start();
    this.sweeper.start();
  }

  /** The parent agent's tools: the delegation toolset. */
  parentTools(): Tool[] {
    return this.toolsets.resolve([delegationToolsetName]);
  }

  /** A child's tools: its toolsets, plus delegation when it is an orchestrator with depth to spare. */
  toolsFor(record: TaskRecord): Tool[] {
    return [...this.toolsets.resolve(this.toolsetNamesOf(record)), this.askUserTool];
  }

  /**
   * A child's tools for a run, MCP servers' included (started here on first use). A server that cannot be
   * started is left out, and the task's events say so; the child goes on with the rest.
   */
  async toolsForRun(record: TaskRecord, signal?: AbortSignal): Promise<Tool[]> {
    const resolved = await this.toolsets.resolveForRun(this.toolsetNamesOf(record), signal);
    const { unavailable } = resolved;
    // Every child may ask its person a question (it parks while it waits; see agent/child-prompts.ts).
    const tools = [...resolved.tools.filter((tool) => tool.name !== askUserToolName), this.askUserTool];
    for (const { toolset, reason } of unavailable) {
      this.logger.warn({ taskId: record.id, toolset, reason }, 'toolset unavailable for a child');
      await this.store
        .appendEvent(record.id, 'note', cutText(`toolset ${toolset} unavailable: ${reason}`, 300))
        .catch(() => undefined);
    }
    return tools;
  }

  private toolsetNamesOf(record: TaskRecord): string[] {
    const mayDelegate =
      record.role === 'orchestrator' && record.depth < this.config.delegation.max_spawn_depth;
    return mayDelegate ? [...record.toolsets, delegationToolsetName] : record.toolsets;
  }

  /**
   * The limits that hold across every worker live on the queue in Redis; config is their source of
   * truth, so each worker writes them at start (a limit removed from config is removed from the queue).
   */
  private async applyQueueWideLimits(): Promise<void> {
    const { worker } = this.config;
    const queue = this.queue.queue;
    if (worker.global_concurrency === null) await queue.removeGlobalConcurrency();
    else await queue.setGlobalConcurrency(worker.global_concurrency);
    if (worker.start_rate_max === null) await queue.removeGlobalRateLimit();
    else await queue.setGlobalRateLimit(worker.start_rate_max, worker.start_rate_window_ms);
  }

  /** A new Redis connection owned by the runtime (closed with it), for blocking reads and BullMQ. */
  connect(name: string): Redis {
    const connection = createRedisConnection(this.options.redisUrl, {
      ...this.options.redisOptions,
      connectionName: `baton-${name}`,
    });
    this.workerConnections.push(connection);
    return connection;
  }

  /** Starts a BullMQ worker for children in this process. */
  async startWorker(): Promise<ChildWorker> {
    // A worker runs terminal commands: a configured sandbox that cannot run stops it here, naming the fix.
    checkSandboxAvailable(this.config.tools.terminal, (message) => this.logger.warn(message));
    await this.applyQueueWideLimits();
    const connection = this.connect('worker');
    const worker = new ChildWorker({
      connection,
      prefix: this.config.redis.prefix,
      heartbeatRedis: this.redis,
      runner: {
        config: this.config,
        store: this.store,
        signals: this.signals,
        model: this.model,
        modelFor: (record, deferUsage) =>
          this.modelFor(
            {
              platform: record.origin.platform,
              channel: record.origin.channel,
              user: record.origin.user,
              ...(record.origin.userName ? { userName: record.origin.userName } : {}),
              taskId: record.id,
            },
            deferUsage,
          ),
        recordUsage: (write) => this.usage.apply(write),
        toolsFor: (record, signal) => this.toolsForRun(record, signal),
        workspaces: this.workspaces,
        scheduleResume: (taskId, round, delayMs) => this.queue.enqueueResume(taskId, round, delayMs),
        logger: this.logger,
      },
    });
    await worker.waitUntilReady();
    this.workers.push(worker);
    this.startWorkspaceSweep();
    if (!this.reconciler) {
      this.reconciler = new QueueReconciler({ store: this.store, queue: this.queue, logger: this.logger });
      this.reconciler.start();
    }
    return worker;
  }

  /**
   * Task refs follow their records' retention (redis.retention_days): once a record is gone, so are its
   * refs in the workspace store. Checkouts of finished tasks are removed as they end.
   */
  private startWorkspaceSweep(): void {
    if (this.workspaceSweep || Object.keys(this.config.workspaces).length === 0) return;
    const sweep = () => {
      this.workspaces
        .sweep(async (taskIds) => (await this.store.getMany(taskIds)).map((record) => record !== null))
        .catch((error: unknown) => this.logger.warn({ err: error }, 'workspace sweep failed'));
    };
    this.workspaceSweep = setInterval(sweep, this.options.retentionSweepIntervalMs ?? 3_600_000);
    this.workspaceSweep.unref();
  }

  /** Drops every Redis connection at once, as a killed process would (tests of crash recovery). */
  killConnections(): void {
    for (const connection of this.connections()) connection.disconnect();
  }

  /** Drains workers (running children go back to the queue after the grace period), then closes connections. */
  async close(graceMs = this.config.worker.shutdown_grace_s * 1000): Promise<void> {
    this.redisAvailability.stop();
    this.reconciler?.stop();
    if (this.workspaceSweep) clearInterval(this.workspaceSweep);
    await this.sweeper.stop();
    await Promise.all(this.workers.map((worker) => worker.drain(graceMs)));
    await this.queue.close();
    await this.mcp.close();
    await this.signals.stop();
    for (const connection of this.connections()) connection.disconnect();
    // The page-text threads are shared by the process; idle ones never hold it open, running ones stop here.
    await closePageTextPool();
  }

  private connections(): Redis[] {
    return [this.redis, this.subscriber, this.queueConnection, ...this.workerConnections];
  }
}
