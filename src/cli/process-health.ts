import { checkHealth, type HealthReport } from '../observability/health.ts';
import type { BatonRuntime } from '../runtime/baton-runtime.ts';

/** A worker-only process's health: Redis, the live workers, and the MCP servers its children use. */
export function processHealth(runtime: BatonRuntime): Promise<HealthReport> {
  return checkHealth({
    redis: runtime.redis,
    keys: runtime.keys,
    adapters: [],
    redisState: () => runtime.redisAvailability.state,
    mcpServers: () => runtime.mcp.statuses(),
  });
}
