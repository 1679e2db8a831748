import { loadConfig, mergeLayers } from '../config/load-config.ts';
import type { BatonConfig } from '../config/schema.ts';
import { demoConfigLayer } from '../demo/demo-config.ts';
import { startDemoModelServer } from '../demo/demo-model-server.ts';
import { createDemoTools, demoToolsetName } from '../demo/demo-toolset.ts';
import { BatonError } from '../errors.ts';
import { AccessPolicy } from '../gateway/access-policy.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import type { HealthReport } from '../observability/health.ts';
import { type BatonMetrics, createMetrics } from '../observability/metrics.ts';
import { type OpsServer, startOpsServer } from '../observability/ops-server.ts';
import { withTimeout } from '../observability/with-timeout.ts';
import { type LocalRedisServer, startLocalRedisServer } from '../redis/local-redis-server.ts';
import { assertRedisReachable } from '../redis/redis-probe.ts';
import { type RedisTarget, redisTargetOf, redisTargetOfUrl } from '../redis/redis-target.ts';
import { BatonRuntime } from '../runtime/baton-runtime.ts';
import type { Tool } from '../tools/tool.ts';
import { usageOverview } from '../usage/usage-report.ts';
import type { ChildWorker } from '../worker/child-worker.ts';
import { type ComposedGateway, composeGateway, gatewayHealth, processHealth } from './compose-gateway.ts';
import { acquireLocalInstance, type LocalInstanceLock } from './local-instance.ts';
import { installProcessGuards } from './process-guards.ts';
import { onShutdownSignal } from './shutdown.ts';

function requireSharedRedis(config: BatonConfig, command: string): RedisTarget {
  const target = redisTargetOf(config.redis);
  if (!target) {
    throw new BatonError(
      'config_invalid',
      `baton ${command} needs REDIS_URL (or redis.url, or redis.sentinels): the Redis shared with the other ` +
        'Baton processes. For everything in one process on one machine, run `baton start`.',
      { fault: 'user' },
    );
  }
  return target;
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

/**
 * A wrong REDIS_URL ends the process with one clear line within `redis.startup_timeout_s`, before any
 * connection that would retry forever is opened.
 */
async function checkRedisAtStart(config: BatonConfig, target: RedisTarget): Promise<void> {
  await assertRedisReachable(target.url, {
    timeoutMs: config.redis.startup_timeout_s * 1000,
    redisOptions: target.options,
    display: target.display,
  });
}

function createRuntimeWithMetrics(
  config: BatonConfig,
  target: RedisTarget,
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
    redisUrl: target.url,
    redisOptions: target.options,
    redisDisplay: target.display,
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

/** One Baton process's logger: `log.level`, and `log.format` (pretty at a terminal unless told otherwise). */
function loggerFor(config: BatonConfig): Logger {
  return createLogger({ level: config.log.level, format: config.log.format });
}

/** Runs the undo steps of a start that failed half-way, newest first, each bounded so none can hang. */
async function undo(steps: Array<() => Promise<void>>, logger: Logger): Promise<void> {
  for (const step of steps.reverse()) {
    await withTimeout(step(), 5000).catch((error: unknown) =>
      logger.debug({ err: error }, 'undoing a half-done start failed'),
    );
  }
}

/** The ops endpoint of this process: its health as `healthOf` reports it, and its metrics. */
async function startOps(config: BatonConfig, health: () => Promise<HealthReport>, metrics: BatonMetrics) {
  return startOpsServer({ host: config.ops.host, port: config.ops.port, health, metrics });
}

/**
 * The config and, with `demo`, the offline demo model with its toolset. The demo model is stateless, so each
 * process of a deployment (`gateway --demo`, `worker --demo`) runs its own.
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

/** The configured MCP servers as one short string each, for the start-up line. */
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
  const logger = loggerFor(config);
  const guards = installProcessGuards(logger);
  const target = requireSharedRedis(config, 'worker');
  await checkRedisAtStart(config, target);
  const { runtime, metrics } = createRuntimeWithMetrics(config, target, logger, demoToolsets);
  const undoSteps: Array<() => Promise<void>> = [];
  if (demoModel) undoSteps.push(() => demoModel.close());
  let ops: OpsServer;
  let worker: ChildWorker;
  try {
    await runtime.start();
    undoSteps.push(() => runtime.close(0));
    worker = await runtime.startWorker();
    ops = await startOps(config, () => processHealth(runtime), metrics);
  } catch (error) {
    await undo(undoSteps, logger);
    throw error;
  }
  logger.info(
    {
      workerId: worker.id,
      concurrency: config.worker.concurrency,
      pid: process.pid,
      ops: ops.url,
      // Each is started here when a child first uses it.
      mcpServers: describeMcpServers(config),
    },
    'worker ready',
  );
  const stop = async () => {
    await runtime.close();
    await demoModel?.close();
    await ops.close();
  };
  guards.onFatal(stop);
  onShutdownSignal(logger, {
    stop,
    deadlineMs: config.ops.shutdown_timeout_s * 1000,
    secondSignalHint: 'a second Ctrl-C stops at once (running children resume on another worker)',
  });
}

/** `baton gateway`: the chat-facing process: adapters, parent turns, delivery, boards, console. */
export async function runGateway(options: { demo: boolean } = { demo: false }): Promise<void> {
  const { demoModel, config, demoToolsets, modelLabel } = await prepare(options);
  const logger = loggerFor(config);
  const guards = installProcessGuards(logger);
  const target = requireSharedRedis(config, 'gateway');
  await checkRedisAtStart(config, target);
  const { runtime, metrics } = createRuntimeWithMetrics(config, target, logger, demoToolsets);
  const undoSteps: Array<() => Promise<void>> = [];
  if (demoModel) undoSteps.push(() => demoModel.close());
  let composed: ComposedGateway;
  let ops: OpsServer;
  try {
    await runtime.start();
    undoSteps.push(() => runtime.close(0));
    const model = modelLabel();
    if (model.warning) logger.warn(model.warning);
    composed = await composeGateway(runtime, metrics, logger, { modelLabel: model.label });
    undoSteps.push(composed.stop);
    ops = await startOps(config, () => gatewayHealth(runtime, composed.gateway), metrics);
  } catch (error) {
    await undo(undoSteps, logger);
    throw error;
  }
  logger.info({ pid: process.pid, console: composed.console?.url ?? null, ops: ops.url }, 'gateway ready');
  const stop = async () => {
    await composed.stop();
    await runtime.close();
    await demoModel?.close();
    await ops.close();
  };
  guards.onFatal(stop);
  onShutdownSignal(logger, {
    stop,
    deadlineMs: config.ops.shutdown_timeout_s * 1000,
    secondSignalHint: 'a second Ctrl-C stops at once (deliveries in hand are retried at the next start)',
  });
}

/**
 * `baton start`: gateway and worker in one process, with a private redis-server when REDIS_URL is unset.
 * With `demo`, the offline demo model answers instead of a real one. One instance per data directory.
 */
export async function runStart(options: { demo: boolean }): Promise<void> {
  const { demoModel, config, demoToolsets, modelLabel } = await prepare(options);
  const logger = loggerFor(config);
  const guards = installProcessGuards(logger);
  const undoSteps: Array<() => Promise<void>> = [];
  if (demoModel) undoSteps.push(() => demoModel.close());
  let instance: LocalInstanceLock;
  try {
    // Before anything else: a second start must not touch the first one's redis-server or data.
    instance = acquireLocalInstance(config.redis.local_data_dir);
  } catch (error) {
    await undo(undoSteps, logger);
    throw error;
  }
  undoSteps.push(async () => instance.release());
  let localRedis: LocalRedisServer | null = null;
  let runtime: BatonRuntime;
  let metrics: BatonMetrics;
  let composed: ComposedGateway;
  let ops: OpsServer;
  let target = redisTargetOf(config.redis);
  try {
    if (!target) {
      localRedis = await startLocalRedisServer({
        dataDirectory: config.redis.local_data_dir,
        persistent: true,
      });
      const started = localRedis;
      undoSteps.push(() => started.stop());
      target = redisTargetOfUrl(localRedis.url);
      logger.info(
        { url: localRedis.url, dataDirectory: config.redis.local_data_dir, redisPid: localRedis.pid },
        'started a private redis-server',
      );
    } else {
      await checkRedisAtStart(config, target);
    }
    ({ runtime, metrics } = createRuntimeWithMetrics(config, target, logger, demoToolsets));
    await runtime.start();
    const startedRuntime = runtime;
    undoSteps.push(() => startedRuntime.close(0));
    await runtime.startWorker();
    const model = modelLabel();
    if (model.warning) logger.warn(model.warning);
    composed = await composeGateway(runtime, metrics, logger, { modelLabel: model.label });
    undoSteps.push(composed.stop);
    const gateway = composed.gateway;
    ops = await startOps(config, () => gatewayHealth(startedRuntime, gateway), metrics);
  } catch (error) {
    await undo(undoSteps, logger);
    throw error;
  }
  instance.update({
    console: composed.console?.url ?? null,
    ops: ops.url,
    redis: target.display,
    redisPid: localRedis?.pid ?? null,
  });
  logger.info(
    {
      pid: process.pid,
      console: composed.console?.url ?? null,
      ops: ops.url,
      mcpServers: describeMcpServers(config),
    },
    'baton ready',
  );
  if (composed.console?.url) {
    announce(
      `Baton is running${demoModel ? ' with the offline demo model' : ''}: open ${composed.console.url}` +
        '\n  Stop it with Ctrl-C (or `baton stop`).',
    );
  }
  const privateRedis = localRedis;
  // The private redis-server goes last: the gateway and worker drain into it first.
  const stop = async () => {
    await composed.stop();
    await runtime.close();
    await privateRedis?.stop();
    await demoModel?.close();
    await ops.close();
    instance.release();
  };
  // Cut short (second Ctrl-C, deadline): Redis still gets its clean stop, so its AOF is complete.
  const force = async () => {
    await privateRedis?.stop();
    instance.release();
  };
  guards.onFatal(stop);
  onShutdownSignal(logger, {
    stop,
    force,
    deadlineMs: config.ops.shutdown_timeout_s * 1000,
    secondSignalHint:
      'a second Ctrl-C stops at once (running children resume from their last checkpoint at the next start' +
      (privateRedis ? '; the private redis-server is still stopped cleanly)' : ')'),
  });
}

/** The demo must not be redirected to a real endpoint by variables meant for `npm start`. */
function withoutModelEnv(): NodeJS.ProcessEnv {
  const { OPENAI_BASE_URL: _baseUrl, BATON_MODEL: _model, ...rest } = process.env;
  return rest;
}
