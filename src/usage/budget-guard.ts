import type { BatonConfig } from '../config/schema.ts';
import { BatonError } from '../errors.ts';
import { tokensOf, type UsageAmounts } from './usage-cost.ts';
import { scopeNames, type UsageLedger } from './usage-ledger.ts';

/** Whose daily budgets a piece of work spends: the person whose message started it, and their channel. */
export interface BudgetOwner {
  platform: string;
  channel: string;
  user: string;
  userName?: string;
}

type Quotas = BatonConfig['quotas'];

/**
 * The daily (UTC) token and cost budgets per person and per channel (quotas.daily_*). Checked before a
 * task is admitted and before each model call; a call already under way finishes and is counted, so a
 * budget can be passed by at most one call per running agent.
 */
export class BudgetGuard {
  /** Whether any daily budget is set; fixed with the config, so worked out once. */
  readonly enabled: boolean;

  constructor(
    private readonly ledger: UsageLedger,
    private readonly quotas: Quotas,
  ) {
    this.enabled = [
      quotas.daily_tokens_per_user,
      quotas.daily_cost_per_user,
      quotas.daily_tokens_per_channel,
      quotas.daily_cost_per_channel,
    ].some((limit) => limit !== null);
  }

  /** Throws `budget_exhausted` when today's usage of the person or the channel has reached a budget. */
  async assertWithin(owner: BudgetOwner): Promise<void> {
    if (!this.enabled) return;
    const [user, channel] = await this.ledger.totals(
      [scopeNames.user(owner.platform, owner.user), scopeNames.channel(owner.platform, owner.channel)],
      1,
    );
    const quotas = this.quotas;
    const who = owner.userName ?? owner.user;
    check(user!, quotas.daily_tokens_per_user, quotas.daily_cost_per_user, `${who}'s`, 'per_user');
    check(
      channel!,
      quotas.daily_tokens_per_channel,
      quotas.daily_cost_per_channel,
      "this channel's",
      'per_channel',
    );
  }
}

function check(
  used: UsageAmounts,
  tokenLimit: number | null,
  costLimit: number | null,
  whose: string,
  suffix: string,
): void {
  const tokens = tokensOf(used);
  if (tokenLimit !== null && tokens >= tokenLimit) {
    throw exhausted(
      `${whose} daily token budget is spent (${tokens} of ${tokenLimit} tokens today, quotas.daily_tokens_${suffix})`,
    );
  }
  if (costLimit !== null && used.cost >= costLimit) {
    throw exhausted(
      `${whose} daily cost budget is spent (${used.cost.toFixed(4)} of ${costLimit} today, quotas.daily_cost_${suffix})`,
    );
  }
}

function exhausted(what: string): BatonError {
  return new BatonError('budget_exhausted', `budget_exhausted: ${what}; it renews at 00:00 UTC`, {
    fault: 'user',
  });
}
