import type { Redis } from 'ioredis';
import { ConsoleAdapter, type ConsoleAdapterOptions } from '../../adapters/console/console-adapter.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';

/**
 * A console adapter on a test runtime's Redis, keys, store and signals, on a free port, with silent logs.
 * `consoleConfig` overrides keys of the runtime's console config; `extra` adds the optional adapter options.
 */
export function consoleAdapterOn(
  runtime: BatonRuntime,
  subscriberRedis: Redis,
  consoleConfig: Partial<ConsoleAdapterOptions['config']> = {},
  extra: Omit<Partial<ConsoleAdapterOptions>, 'config' | 'subscriberRedis'> = {},
): ConsoleAdapter {
  return new ConsoleAdapter({
    config: { ...runtime.config.console, port: 0, ...consoleConfig },
    redis: runtime.redis,
    subscriberRedis,
    keys: runtime.keys,
    store: runtime.store,
    signals: runtime.signals,
    logger: createSilentLogger(),
    ...extra,
  });
}
