import type { BatonConfig } from '../config/schema.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import { shortGoal } from '../tasks/task-views.ts';
import { noUsage, tokensOf, type UsageAmounts } from './usage-cost.ts';
import { scopeNames, type UsageLedger } from './usage-ledger.ts';

/** Usage of one period, by kind of scope: keys are people (`platform:user`), channels, task ids, routes. */
export interface UsageBreakdown {
  total: UsageAmounts;
  users: Record<string, UsageAmounts>;
  channels: Record<string, UsageAmounts>;
  tasks: Record<string, UsageAmounts>;
  routes: Record<string, UsageAmounts>;
}

/** Today (UTC) and the last 30 days (today included). */
export interface UsageOverview {
  today: UsageBreakdown;
  last30Days: UsageBreakdown;
}

/** Every scope's usage, split by kind, for the console and /metrics. */
export async function usageOverview(ledger: UsageLedger, now = Date.now()): Promise<UsageOverview> {
  const [today, last30Days] = await Promise.all([ledger.allScopes(1, now), ledger.allScopes(30, now)]);
  return { today: breakdown(today), last30Days: breakdown(last30Days) };
}

function breakdown(scopes: Map<string, UsageAmounts>): UsageBreakdown {
  const result: UsageBreakdown = { total: noUsage(), users: {}, channels: {}, tasks: {}, routes: {} };
  for (const [name, amounts] of scopes) {
    const [kind, ...rest] = name.split(':');
    const key = rest.join(':');
    if (kind === 'all') result.total = amounts;
    else if (kind === 'user') result.users[key] = amounts;
    else if (kind === 'channel') result.channels[key] = amounts;
    else if (kind === 'task') result.tasks[key] = amounts;
    else if (kind === 'route') result.routes[key] = amounts;
  }
  return result;
}

const number = new Intl.NumberFormat('en-US');

/** `12,345 tokens (in 10,000 · cached 2,000 · out 345) · cost 0.0123` */
export function describeAmounts(amounts: UsageAmounts): string {
  const cost = amounts.cost > 0 ? ` · cost ${amounts.cost.toFixed(4)}` : '';
  return (
    `${number.format(tokensOf(amounts))} tokens (in ${number.format(amounts.input)} · cached ` +
    `${number.format(amounts.cached)} · out ${number.format(amounts.output)})${cost}`
  );
}

/** Most tasks listed by the chat report. */
const listedTasks = 8;

/**
 * The `usage` chat command's answer for one person in one channel: theirs and the channel's tokens and
 * cost today and over 30 days, the channel's costliest recent tasks, and the daily budgets left.
 */
export async function usageReportText(options: {
  ledger: UsageLedger;
  store: TaskStore;
  quotas: BatonConfig['quotas'];
  platform: string;
  channel: string;
  user: string;
  userName: string;
  now?: number;
}): Promise<string> {
  const { ledger, platform, channel, user, quotas } = options;
  const now = options.now ?? Date.now();
  const userScope = scopeNames.user(platform, user);
  const channelScope = scopeNames.channel(platform, channel);
  const [userToday, userMonth, channelToday, channelMonth, month] = await Promise.all([
    ledger.total(userScope, 1, now),
    ledger.total(userScope, 30, now),
    ledger.total(channelScope, 1, now),
    ledger.total(channelScope, 30, now),
    ledger.allScopes(30, now),
  ]);
  const lines = [
    '**Usage** (UTC days)',
    `• You (${options.userName}) today: ${describeAmounts(userToday)}`,
    `• You, last 30 days: ${describeAmounts(userMonth)}`,
    `• This channel today: ${describeAmounts(channelToday)}`,
    `• This channel, last 30 days: ${describeAmounts(channelMonth)}`,
  ];
  const budgets = [
    budgetLine('your tokens', tokensOf(userToday), quotas.daily_tokens_per_user),
    budgetLine('your cost', userToday.cost, quotas.daily_cost_per_user),
    budgetLine("the channel's tokens", tokensOf(channelToday), quotas.daily_tokens_per_channel),
    budgetLine("the channel's cost", channelToday.cost, quotas.daily_cost_per_channel),
  ].filter((line) => line !== null);
  if (budgets.length > 0) lines.push(`Daily budgets: ${budgets.join('; ')}`);
  const taskIds = [...month.keys()].filter((name) => name.startsWith('task:')).map((name) => name.slice(5));
  const records = await options.store.getMany(taskIds);
  const channelTasks = records
    .filter(
      (record) => record !== null && record.origin.platform === platform && record.origin.channel === channel,
    )
    .map((record) => ({ record: record!, amounts: month.get(scopeNames.task(record!.id))! }))
    .sort((left, right) => tokensOf(right.amounts) - tokensOf(left.amounts));
  if (channelTasks.length > 0) {
    lines.push('Tasks of this channel, last 30 days (most tokens first):');
    for (const { record, amounts } of channelTasks.slice(0, listedTasks)) {
      lines.push(`• ${record.id} · ${shortGoal(record.goal, 40)} · ${describeAmounts(amounts)}`);
    }
    if (channelTasks.length > listedTasks) lines.push(`…and ${channelTasks.length - listedTasks} more`);
  }
  return lines.join('\n');
}

function budgetLine(what: string, used: number, limit: number | null): string | null {
  if (limit === null) return null;
  const shown = Number.isInteger(limit) && Number.isInteger(used) ? number.format(used) : used.toFixed(4);
  return `${what} ${shown} of ${Number.isInteger(limit) ? number.format(limit) : limit}`;
}
