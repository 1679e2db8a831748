import type { Redis } from 'ioredis';
import { ConsoleAdapter, type ConsoleAdapterOptions } from '../../adapters/console/console-adapter.ts';
import { consoleParts } from '../../src/cli/compose-gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { UsageLedger } from '../../src/usage/usage-ledger.ts';

/**
 * A console adapter on a test runtime's Redis, keys, store, signals and workspaces, on a free port, with
 * silent logs. `consoleConfig` overrides keys of the runtime's console config; `extra` adds the optional
 * adapter options, and `usage` the ledger its pages read costs from (none by default: costs are null).
 */
export function consoleAdapterOn(
  runtime: BatonRuntime,
  subscriberRedis: Redis,
  consoleConfig: Partial<ConsoleAdapterOptions['config']> = {},
  extra: Omit<Partial<ConsoleAdapterOptions>, 'config' | 'subscriberRedis'> & { usage?: UsageLedger } = {},
): ConsoleAdapter {
  const { usage, ...options } = extra;
  return new ConsoleAdapter({
    config: { ...runtime.config.console, port: 0, ...consoleConfig },
    ...consoleParts(runtime, { workspaces: runtime.workspaces, ...(usage ? { usage } : {}) }),
    subscriberRedis,
    logger: createSilentLogger(),
    ...options,
  });
}
