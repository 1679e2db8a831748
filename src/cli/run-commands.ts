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
import { startOpsServer } from '../observability/ops-server.ts';
import { withTimeout } from '../observability/with-timeout.ts';
import { type LocalRedisServer, startLocalRedisServer } from '../redis/local-redis-server.ts';
import { assertRedisReachable } from '../redis/redis-probe.ts';
import { type RedisTarget, redisTargetOf, redisTargetOfUrl } from '../redis/redis-target.ts';
import { BatonRuntime } from '../runtime/baton-runtime.ts';
import type { Tool } from '../tools/tool.ts';
import { usageOverview } from '../usage/usage-report.ts';
import { acquireLocalInstance } from './local-instance.ts';
import { installProcessGuards, type ProcessGuards } from './process-guards.ts';
import { processHealth } from './process-health.ts';
import { onShutdownSignal, type ShutdownOptions } from './shutdown.ts';

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

/** Runs `start`; when it fails half-way, runs the undo steps gathered so far and fails with its error. */
async function startOrUndo<T>(
  undoSteps: Array<() => Promise<void>>,
  logger: Logger,
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (error) {
    await undo(undoSteps, logger);
    throw error;
  }
}

/** The graceful `stop` on SIGTERM/SIGINT (bounded by `ops.shutdown_timeout_s`) and on a fatal error. */
function stopOnSignalOrFatal(
  config: BatonConfig,
  logger: Logger,
  guards: ProcessGuards,
  options: Omit<ShutdownOptions, 'deadlineMs' | 'exit'>,
): void {
  guards.onFatal(options.stop);
  onShutdownSignal(logger, { ...options, deadlineMs: config.ops.shutdown_timeout_s * 1000 });
}

/** The ops endpoint of this process: its health as `healthOf` reports it, and its metrics. */
async function startOps(config: BatonConfig, health: () => Promise<HealthReport>, metrics: BatonMetrics) {
  return startOpsServer({ host: config.ops.host, port: config.ops.port, health, metrics });
}

/**
 * The gateway's wiring, with the chat adapters (discord.js, Bolt, the console's server) and the tokenizer of
 * thread histories: loaded only by the processes that run a gateway. A worker never uses them, and holding
 * them would cost it some 50 MB of heap and make every collection's working set that much larger.
 */
function loadGatewayComposition() {
  return import('./compose-gateway.ts');
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
  const { worker, ops } = await startOrUndo(undoSteps, logger, async () => {
    await runtime.start();
    undoSteps.push(() => runtime.close(0));
    const worker = await runtime.startWorker();
    const ops = await startOps(config, () => processHealth(runtime), metrics);
    return { worker, ops };
  });
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
  stopOnSignalOrFatal(config, logger, guards, {
    stop,
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
  const { composed, ops } = await startOrUndo(undoSteps, logger, async () => {
    await runtime.start();
    undoSteps.push(() => runtime.close(0));
    const model = modelLabel();
    if (model.warning) logger.warn(model.warning);
    const { composeGateway, gatewayHealth } = await loadGatewayComposition();
    const composed = await composeGateway(runtime, metrics, logger, { modelLabel: model.label });
    undoSteps.push(composed.stop);
    const ops = await startOps(config, () => gatewayHealth(runtime, composed.gateway), metrics);
    return { composed, ops };
  });
  logger.info({ pid: process.pid, console: composed.console?.url ?? null, ops: ops.url }, 'gateway ready');
  const stop = async () => {
    await composed.stop();
    await runtime.close();
    await demoModel?.close();
    await ops.close();
  };
  stopOnSignalOrFatal(config, logger, guards, {
    stop,
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
  // Before anything else: a second start must not touch the first one's redis-server or data.
  const instance = await startOrUndo(undoSteps, logger, async () =>
    acquireLocalInstance(config.redis.local_data_dir),
  );
  undoSteps.push(async () => instance.release());
  const { localRedis, target, runtime, composed, ops } = await startOrUndo(undoSteps, logger, async () => {
    let localRedis: LocalRedisServer | null = null;
    let target = redisTargetOf(config.redis);
    if (!target) {
      const started = await startLocalRedisServer({
        dataDirectory: config.redis.local_data_dir,
        persistent: true,
      });
      localRedis = started;
      undoSteps.push(() => started.stop());
      target = redisTargetOfUrl(started.url);
      logger.info(
        { url: started.url, dataDirectory: config.redis.local_data_dir, redisPid: started.pid },
        'started a private redis-server',
      );
    } else {
      await checkRedisAtStart(config, target);
    }
    const { runtime, metrics } = createRuntimeWithMetrics(config, target, logger, demoToolsets);
    await runtime.start();
    undoSteps.push(() => runtime.close(0));
    await runtime.startWorker();
    const model = modelLabel();
    if (model.warning) logger.warn(model.warning);
    const { composeGateway, gatewayHealth } = await loadGatewayComposition();
    const composed = await composeGateway(runtime, metrics, logger, { modelLabel: model.label });
    undoSteps.push(composed.stop);
    const ops = await startOps(config, () => gatewayHealth(runtime, composed.gateway), metrics);
    return { localRedis, target, runtime, composed, ops };
  });
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
  stopOnSignalOrFatal(config, logger, guards, {
    stop,
    force,
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
