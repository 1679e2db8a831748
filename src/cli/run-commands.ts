import { loadConfig } from '../config/load-config.ts';
import type { BatonConfig } from '../config/schema.ts';
import { BatonError } from '../errors.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import { type LocalRedisServer, startLocalRedisServer } from '../redis/local-redis-server.ts';
import { BatonRuntime } from '../runtime/baton-runtime.ts';
import { onShutdownSignal } from './shutdown.ts';

interface Prepared {
  config: BatonConfig;
  logger: Logger;
}

function prepare(): Prepared {
  const config = loadConfig();
  const logger = createLogger({ level: config.log.level });
  return { config, logger };
}

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

/** `baton worker`: runs child agents from the shared queue until SIGTERM, then drains gracefully. */
export async function runWorker(): Promise<void> {
  const { config, logger } = prepare();
  const runtime = new BatonRuntime({ config, redisUrl: requireSharedRedis(config, 'worker'), logger });
  await runtime.start();
  const worker = await runtime.startWorker();
  logger.info(
    { workerId: worker.id, concurrency: config.worker.concurrency, pid: process.pid },
    'worker ready',
  );
  onShutdownSignal(logger, () => runtime.close());
}

/** `baton gateway`: the chat-facing process. */
export async function runGateway(): Promise<void> {
  const { config, logger } = prepare();
  const runtime = new BatonRuntime({ config, redisUrl: requireSharedRedis(config, 'gateway'), logger });
  await runtime.start();
  logger.info({ pid: process.pid }, 'gateway ready');
  onShutdownSignal(logger, () => runtime.close());
}

/** `baton start`: gateway and worker in one process, with a private redis-server when REDIS_URL is unset. */
export async function runStart(): Promise<void> {
  const { config, logger } = prepare();
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
  const runtime = new BatonRuntime({ config, redisUrl, logger });
  await runtime.start();
  const worker = await runtime.startWorker();
  logger.info({ workerId: worker.id, pid: process.pid }, 'baton ready (gateway and worker in one process)');
  onShutdownSignal(logger, async () => {
    await runtime.close();
    await localRedis?.stop();
  });
}
