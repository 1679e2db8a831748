import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { McpServerStatus } from '../tools/mcp/mcp-connection.ts';
import { withTimeout } from './with-timeout.ts';

export interface HealthCheckOptions {
  redis: Redis;
  keys: RedisKeys;
  /** The chat adapters this process runs; none for a worker-only process. */
  adapters: Array<{ platform: string; isHealthy(): boolean }>;
  /** Longest the Redis checks may take before Redis counts as down; default 1000 ms. */
  timeoutMs?: number;
  /** The configured MCP servers' states in this process (runtime.mcp.statuses); left out of the report when not given. */
  mcpServers?: () => Record<string, McpServerStatus>;
  /**
   * Children waiting in the queue (a gateway passes it): with some queued and no live worker, nothing will
   * run them, so the gateway is not ok. A worker-only process leaves it out.
   */
  queuedChildren?: () => Promise<number>;
  /**
   * What the process itself knows of Redis (RedisAvailability): when it says down, Redis is reported down
   * at once, without waiting for the PING to time out.
   */
  redisState?: () => 'up' | 'down';
}

export interface HealthReport {
  /**
   * Redis answers and every adapter is healthy. Zero workers fails only when children are queued (a
   * gateway that passes `queuedChildren`), since nothing would run them.
   */
  ok: boolean;
  redis: 'ok' | 'down';
  adapters: Record<string, 'ok' | 'down'>;
  /** Worker processes that wrote a heartbeat in the last 30 s (entries of one sorted set, scored by when they lapse, renewed every 10 s). */
  workers: number;
  /**
   * Each MCP server's connection in this process: `idle` until a child here used it, then `ready`,
   * `restarting` or `failed` (with the error). A failing server does not make `ok` false: the children
   * that use it get tool errors and go on.
   */
  mcp_servers?: Record<string, McpServerStatus>;
  /** Children waiting for a worker (gateways only). */
  queued?: number;
  /** Why ok is false, in words, when it is. */
  problems?: string[];
}

/** The `/healthz` check: Redis PING, adapters, and live workers counted from their heartbeats. */
export async function checkHealth(options: HealthCheckOptions): Promise<HealthReport> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const adapters: HealthReport['adapters'] = {};
  for (const adapter of options.adapters) {
    let healthy: boolean;
    try {
      healthy = adapter.isHealthy();
    } catch {
      healthy = false;
    }
    // Two adapters of one platform: the platform is down if either is.
    adapters[adapter.platform] = healthy && adapters[adapter.platform] !== 'down' ? 'ok' : 'down';
  }

  // ioredis queues commands while disconnected (maxRetriesPerRequest: null), so only a time-out tells.
  const redis: HealthReport['redis'] =
    options.redisState?.() === 'down'
      ? 'down'
      : await withTimeout(options.redis.ping(), timeoutMs).then(
          () => 'ok' as const,
          () => 'down' as const,
        );
  const workers =
    redis === 'ok'
      ? await withTimeout(
          options.redis.zcount(options.keys.workerHeartbeats(), Date.now(), '+inf'),
          timeoutMs,
        ).catch(() => 0)
      : 0;
  const queued =
    redis === 'ok' && options.queuedChildren
      ? await withTimeout(options.queuedChildren(), timeoutMs).catch(() => 0)
      : undefined;

  const problems: string[] = [];
  if (redis === 'down') problems.push('Redis does not answer');
  for (const [platform, state] of Object.entries(adapters))
    if (state === 'down') problems.push(`the ${platform} adapter is down`);
  if (queued !== undefined && queued > 0 && workers === 0)
    problems.push(`${queued} children are queued and no worker is running`);
  return {
    ok: problems.length === 0,
    redis,
    adapters,
    workers,
    ...(queued !== undefined ? { queued } : {}),
    ...(problems.length > 0 ? { problems } : {}),
    ...(options.mcpServers ? { mcp_servers: options.mcpServers() } : {}),
  };
}
