import { ConsoleAdapter, type ConsoleAdapterOptions } from '../../adapters/console/console-adapter.ts';
import { discordAdapterFromEnv } from '../../adapters/discord/discord-adapter-from-env.ts';
import { slackAdapterFromEnv } from '../../adapters/slack/slack-adapter-from-env.ts';
import { AccessPolicy } from '../gateway/access-policy.ts';
import { CommandRouter } from '../gateway/command-router.ts';
import { Gateway, type GatewayOptions } from '../gateway/gateway.ts';
import { ParentAgent } from '../gateway/parent-agent.ts';
import { TaskReader, type TaskReaderOptions } from '../gateway/task-reader.ts';
import type { Logger } from '../logging/logger.ts';
import { checkHealth, type HealthReport } from '../observability/health.ts';
import type { BatonMetrics } from '../observability/metrics.ts';
import { healthRoute, metricsRoute } from '../observability/ops-routes.ts';
import { ttlSeconds } from '../redis/key-lifetimes.ts';
import type { BatonRuntime } from '../runtime/baton-runtime.ts';
import { usageReportText } from '../usage/usage-report.ts';

export interface ComposedGateway {
  gateway: Gateway;
  console: ConsoleAdapter | null;
  stop(): Promise<void>;
}

/** A gateway's health: Redis, its adapters, and a worker to run the children it has queued. */
export function gatewayHealth(runtime: BatonRuntime, gateway: Gateway): Promise<HealthReport> {
  return checkHealth({
    redis: runtime.redis,
    keys: runtime.keys,
    adapters: gateway.adapterList(),
    redisState: () => runtime.redisAvailability.state,
    queuedChildren: () => runtime.queue.queue.getWaitingCount(),
    mcpServers: () => runtime.mcp.statuses(),
  });
}

/** What a gateway takes from the runtime: its stores, the parent agent, connections. */
export type GatewayParts = Omit<
  GatewayOptions,
  'commands' | 'access' | 'logger' | 'onDelivery' | 'onTaskEnded'
>;

/** The runtime's stores and clients, shaped as a gateway and its parent agent take them. */
export function gatewayParts(runtime: BatonRuntime): GatewayParts {
  const { config, sessions } = runtime;
  const parent = new ParentAgent({
    config,
    history: sessions.history,
    checkpoints: sessions.checkpoints,
    modelFor: (scope) => runtime.modelFor(scope),
    tools: () => runtime.parentTools(),
  });
  return {
    config,
    sessions,
    tasks: runtime.store,
    signals: runtime.signals,
    parent,
    redis: runtime.redis,
    keys: runtime.keys,
    connect: (name) => runtime.connect(name),
  };
}

/**
 * What the console takes from the runtime: its storage (the runtime's Redis, Baton's key prefix, the
 * lifetimes of its keys) and its read port over the task store, the signals and, by default, the usage
 * ledger and the workspaces.
 */
export function consoleParts(
  runtime: BatonRuntime,
  readsFrom: Pick<TaskReaderOptions, 'usage' | 'workspaces'> = {
    usage: runtime.usage,
    workspaces: runtime.workspaces,
  },
): Pick<
  ConsoleAdapterOptions,
  'redis' | 'keyPrefix' | 'retentionSeconds' | 'requestRecordSeconds' | 'reads'
> {
  const retention = runtime.store.retentionSeconds;
  return {
    redis: runtime.redis,
    keyPrefix: runtime.keys.prefix,
    retentionSeconds: ttlSeconds('consoleThread', retention),
    requestRecordSeconds: ttlSeconds('consoleRequestRecord', retention),
    reads: new TaskReader({ store: runtime.store, signals: runtime.signals, ...readsFrom }),
  };
}

/** The command router of one process: task commands over the runtime, and /usage over its ledger. */
export function composeCommandRouter(
  runtime: BatonRuntime,
  access: AccessPolicy,
  logger: Logger,
): CommandRouter {
  return new CommandRouter({
    service: runtime.service,
    store: runtime.store,
    access,
    logger,
    workspaces: runtime.workspaces,
    usageReport: (user, ref) =>
      usageReportText({
        ledger: runtime.usage,
        store: runtime.store,
        quotas: runtime.config.quotas,
        platform: ref.platform,
        channel: ref.channel,
        user: user.id,
        userName: user.name,
      }),
  });
}

/**
 * Wires the gateway of one process: access policy, command router, the chat adapters whose credentials
 * are present (the local console always, unless disabled; Slack with SLACK_BOT_TOKEN; Discord with
 * DISCORD_TOKEN), metrics and health.
 */
export async function composeGateway(
  runtime: BatonRuntime,
  metrics: BatonMetrics,
  logger: Logger,
  options: { modelLabel?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ComposedGateway> {
  const env = options.env ?? process.env;
  const { config } = runtime;
  const access = new AccessPolicy(config.access);
  const commands = composeCommandRouter(runtime, access, logger);
  const gateway = new Gateway({
    ...gatewayParts(runtime),
    access,
    commands,
    logger,
    onDelivery: (outcome) => metrics.recordDelivery(outcome),
    onTaskEnded: (status) => metrics.recordTaskEnded(status),
  });
  let consoleAdapter: ConsoleAdapter | null = null;
  if (config.console.enabled) {
    consoleAdapter = new ConsoleAdapter({
      config: config.console,
      ...consoleParts(runtime),
      subscriberRedis: runtime.connect('console-events'),
      logger,
      ...(options.modelLabel ? { modelLabel: options.modelLabel } : {}),
      redisState: () => runtime.redisAvailability.state,
      // /healthz is open to probes (container health checks), since it says only what is up; /metrics is
      // behind the console's token when one is set (scrape with Authorization: Bearer).
      publicRoutes: healthRoute(() => gatewayHealth(runtime, gateway)),
      extraRoutes: metricsRoute(metrics),
    });
    gateway.addAdapter(consoleAdapter);
  }
  // Each platform adapter starts when its credentials are present.
  const discord = discordAdapterFromEnv(env, config.discord, { logger });
  if (discord) gateway.addAdapter(discord);
  const slack = slackAdapterFromEnv(env, config.slack, { logger });
  if (slack) gateway.addAdapter(slack);
  await gateway.start();
  for (const adapter of gateway.adapterList())
    logger.info({ platform: adapter.platform }, 'chat adapter started');
  return { gateway, console: consoleAdapter, stop: () => gateway.stop() };
}
