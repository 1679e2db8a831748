import type { BatonConfig } from '../config/schema.ts';
import type { ModelClient, ModelRequest, ModelResponse } from '../llm/model-client.ts';
import type { Logger } from '../logging/logger.ts';
import type { UsageWrite } from '../redis/usage-write.ts';
import type { BudgetGuard } from './budget-guard.ts';
import { priceUsage } from './usage-cost.ts';
import type { UsageLedger, UsageScope } from './usage-ledger.ts';

export interface MeteringOptions {
  ledger: UsageLedger;
  guard: BudgetGuard;
  models: BatonConfig['models'];
  logger: Logger;
  /**
   * Given, each call's usage is handed here instead of being added at once: a child's run passes it to the
   * write that ends the step (its checkpoint or completion), which follows every model call before the
   * next one, so budgets read it as before and the call costs no round trip of its own.
   */
  defer?(write: UsageWrite): void;
}

/**
 * The model client of one agent run (a parent turn or a child): checks the daily budgets before each call
 * and counts each call's tokens and cost for the person, channel, task and route it ran for.
 */
export function meteredModel(
  inner: ModelClient,
  scope: UsageScope & { userName?: string },
  options: MeteringOptions,
): ModelClient {
  return {
    async complete(request: ModelRequest): Promise<ModelResponse> {
      await options.guard.assertWithin(scope);
      const response = await inner.complete(request);
      const route = request.route ?? options.models.default_route;
      const amounts = priceUsage(response.usage, options.models.routes[route]?.price);
      const write = options.ledger.write(
        { platform: scope.platform, channel: scope.channel, user: scope.user, taskId: scope.taskId },
        route,
        amounts,
      );
      if (options.defer) {
        options.defer(write);
        return response;
      }
      // A failed count must not throw away the answer the call already paid for.
      await options.ledger
        .apply(write)
        .catch((error: unknown) => options.logger.warn({ err: error, route }, 'usage not recorded'));
      return response;
    },
  };
}
