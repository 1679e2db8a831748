import { loadConfig, mergeLayers } from '../config/load-config.ts';
import type { BatonConfig } from '../config/schema.ts';
import { demoConfigLayer } from '../demo/demo-config.ts';
import { startDemoModelServer } from '../demo/demo-model-server.ts';
import { createDemoTools, demoToolsetName } from '../demo/demo-toolset.ts';
import { BatonError } from '../errors.ts';
import { AccessPolicy } from '../gateway/access-policy.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import { type LocalRedisServer, startLocalRedisServer } from '../redis/local-redis-server.ts';
import { BatonRuntime } from '../runtime/baton-runtime.ts';
import type { Tool } from '../tools/tool.ts';
import { usageOverview } from '../usage/usage-report.ts';
import { composeGateway } from './compose-gateway.ts';
import { installProcessGuards } from './process-guards.ts';
import { onShutdownSignal } from './shutdown.ts';

function requireSharedRedis(config: BatonConfig, command: string): string {
  if (!config.redis.url) {
    throw new BatonError(
      'config_invalid',
      `baton ${command} needs REDIS_URL (or redis.url): the Redis shared with the other Baton processes. ` +
        'For everything in one process on one machine, run `baton start`.',
      { fault: 'user' },
    );
  }
  return config.redis.url;
}

/** What the console's header says about the model, and a warning when none can be reached. */
function describeModel(config: BatonConfig, env: NodeJS.ProcessEnv): { label: string; warning?: string } {
  const route = config.models.routes[config.models.default_route]!;
  const hasKey = route.api_key_env.some((name) => Boolean(env[name]));
  if (route.base_url === null && !hasKey) {
    return {
      label: 'no model configured',
      warning:
        `No model is configured: set ${route.api_key_env[0]} (or OPENAI_BASE_URL for a local OpenAI-compatible ` +
        'server), or run `npm run demo` for the offline demo model.',
    };
  }
  return { label: route.model };
}

function createRuntimeWithMetrics(
  config: BatonConfig,
  redisUrl: string,
  logger: Logger,
  extraToolsets: Record<string, () => Tool[]> = {},
) {
  let runtime: BatonRuntime | null = null;
  const metrics = createMetrics({
    // The most recent tasks stand for the current picture; counting every task ever made would not scale.
    countTasksByStatus: async () => (await runtime?.store.countRecentByStatus(1000)) ?? {},
    queueCounts: async () =>
      (await runtime?.queue.queue.getJobCounts('waiting', 'active', 'delayed', 'failed')) ?? {},
    usageByRoute: async () => {
      if (!runtime) return { today: {}, last_30_days: {} };
      const overview = await usageOverview(runtime.usage);
      return { today: overview.today.routes, last_30_days: overview.last30Days.routes };
    },
  });
  runtime = new BatonRuntime({
    config,
    redisUrl,
    logger,
    onModelCall: (record) => metrics.recordModelCall(record),
    // The same decision as the gateway's chat commands (composeGateway builds its own from this config).
    authorizer: new AccessPolicy(config.access),
    extraToolsets,
  });
  return { runtime, metrics };
}

function announce(text: string): void {
  process.stderr.write(`\n  ${text}\n\n`);
}

/**
 * The set-up every command shares: the config and, with `demo`, the offline demo model. The demo model is
 * stateless, so each process of a deployment (`gateway --demo`, `worker --demo`) can run its own.
 */
async function prepare(options: { demo: boolean }) {
  const demoModel = options.demo ? await startDemoModelServer() : null;
  const config = loadConfig(
    demoModel
      ? { overrides: mergeLayers({}, demoConfigLayer(demoModel.baseURL)), env: withoutModelEnv() }
      : {},
  );
  // Progress notes only: the offline demo model's children call them to show their steps.
  const demoToolsets: Record<string, () => Tool[]> = demoModel ? { [demoToolsetName]: createDemoTools } : {};
  const modelLabel = (): { label: string; warning?: string } =>
    demoModel ? { label: 'offline demo model' } : describeModel(config, process.env);
  return { demoModel, config, demoToolsets, modelLabel };
}

/** The configured MCP servers as one short string each, for the worker's start-up line. */
function describeMcpServers(config: BatonConfig): string[] {
  return Object.entries(config.mcp_servers).map(([name, server]) =>
    'url' in server
      ? `mcp:${name} (http ${new URL(server.url).host})`
      : `mcp:${name} (stdio ${server.command})`,
  );
}

/** `baton worker`: runs child agents from the shared queue until SIGTERM, then drains gracefully. */
export async function runWorker(options: { demo: boolean } = { demo: false }): Promise<void> {
  const { demoModel, config, demoToolsets } = await prepare(options);
  const logger = createLogger({ level: config.log.level });
  const guards = installProcessGuards(logger);
  const runtime = new BatonRuntime({
    config,
    redisUrl: requireSharedRedis(config, 'worker'),
    logger,
    extraToolsets: demoToolsets,
  });
  await runtime.start();
  const worker = await runtime.startWorker();
  logger.info(
    {
      workerId: worker.id,
      concurrency: config.worker.concurrency,
      pid: process.pid,
      // Each is started here when a child first uses it.
      mcpServers: describeMcpServers(config),
    },
    'worker ready',
  );
  const stop = async () => {
    await runtime.close();
    await demoModel?.close();
  };
  guards.onFatal(stop);
  onShutdownSignal(logger, stop, shutdownDeadlineMs(config));
}

/** `baton gateway`: the chat-facing process: adapters, parent turns, delivery, boards, console. */
export async function runGateway(options: { demo: boolean } = { demo: false }): Promise<void> {
  const { demoModel, config, demoToolsets, modelLabel } = await prepare(options);
  const logger = createLogger({ level: config.log.level });
  const guards = installProcessGuards(logger);
  const { runtime, metrics } = createRuntimeWithMetrics(
    config,
    requireSharedRedis(config, 'gateway'),
    logger,
    demoToolsets,
  );
  await runtime.start();
  const model = modelLabel();
  if (model.warning) logger.warn(model.warning);
  const composed = await composeGateway(runtime, metrics, logger, { modelLabel: model.label });
  logger.info({ pid: process.pid, console: composed.console?.url ?? null }, 'gateway ready');
  const stop = async () => {
    await composed.stop();
    await runtime.close();
    await demoModel?.close();
  };
  guards.onFatal(stop);
  onShutdownSignal(logger, stop, shutdownDeadlineMs(config));
}

/**
 * `baton start`: gateway and worker in one process, with a private redis-server when REDIS_URL is unset.
 * With `demo`, the offline demo model answers instead of a real one.
 */
export async function runStart(options: { demo: boolean }): Promise<void> {
  const { demoModel, config, demoToolsets, modelLabel } = await prepare(options);
  const logger = createLogger({ level: config.log.level });
  const guards = installProcessGuards(logger);
  let localRedis: LocalRedisServer | null = null;
  let redisUrl = config.redis.url;
  if (!redisUrl) {
    localRedis = await startLocalRedisServer({
      dataDirectory: config.redis.local_data_dir,
      persistent: true,
    });
    redisUrl = localRedis.url;
    logger.info(
      { url: redisUrl, dataDirectory: config.redis.local_data_dir },
      'started a private redis-server',
    );
  }
  const { runtime, metrics } = createRuntimeWithMetrics(config, redisUrl, logger, demoToolsets);
  await runtime.start();
  await runtime.startWorker();
  const model = modelLabel();
  if (model.warning) logger.warn(model.warning);
  const composed = await composeGateway(runtime, metrics, logger, { modelLabel: model.label });
  logger.info(
    { pid: process.pid, console: composed.console?.url ?? null, mcpServers: describeMcpServers(config) },
    'baton ready',
  );
  if (composed.console?.url) {
    announce(
      `Baton is running${demoModel ? ' with the offline demo model' : ''}: open ${composed.console.url}`,
    );
  }
  const stop = async () => {
    await composed.stop();
    await runtime.close();
    await localRedis?.stop();
    await demoModel?.close();
  };
  guards.onFatal(stop);
  onShutdownSignal(logger, stop, shutdownDeadlineMs(config));
}

/** The demo must not be redirected to a real endpoint by variables meant for `npm start`. */
function withoutModelEnv(): NodeJS.ProcessEnv {
  const { OPENAI_BASE_URL: _baseUrl, BATON_MODEL: _model, ...rest } = process.env;
  return rest;
}

/** The worker's grace for running children, plus room for the drains around it. */
function shutdownDeadlineMs(config: BatonConfig): number {
  return (config.worker.shutdown_grace_s + 30) * 1000;
}
