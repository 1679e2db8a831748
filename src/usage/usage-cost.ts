import type { ModelRouteConfig } from '../config/schema.ts';
import type { TokenUsage } from '../llm/model-client.ts';

/** Tokens of one call or of a total, split the way providers price them, and what they cost. */
export interface UsageAmounts {
  /** Prompt tokens not served from the provider's cache. */
  input: number;
  /** Prompt tokens served from the cache (usually cheaper). */
  cached: number;
  output: number;
  /** In the unit of `models.routes.<name>.price` (per million tokens); 0 for a route without a price. */
  cost: number;
  /** Model calls counted. */
  calls: number;
}

export const noUsage = (): UsageAmounts => ({ input: 0, cached: 0, output: 0, cost: 0, calls: 0 });

export const tokensOf = (amounts: UsageAmounts): number => amounts.input + amounts.cached + amounts.output;

/** One model call's usage, priced with its route's `price` (per million tokens). */
export function priceUsage(usage: TokenUsage, price: ModelRouteConfig['price']): UsageAmounts {
  const cached = Math.min(usage.cached_tokens ?? 0, usage.prompt_tokens);
  const input = usage.prompt_tokens - cached;
  const output = usage.completion_tokens;
  const cost = price
    ? (input * price.input + cached * (price.cached_input ?? price.input) + output * price.output) / 1_000_000
    : 0;
  return { input, cached, output, cost, calls: 1 };
}

export function addAmounts(total: UsageAmounts, more: UsageAmounts): UsageAmounts {
  return {
    input: total.input + more.input,
    cached: total.cached + more.cached,
    output: total.output + more.output,
    cost: total.cost + more.cost,
    calls: total.calls + more.calls,
  };
}
