import type { Hono } from 'hono';
import type { UsageLedger } from '../../src/usage/usage-ledger.ts';
import { usageOverview } from '../../src/usage/usage-report.ts';

/** `GET /api/usage`: tokens and cost per person, channel, task and route, today and over 30 days (the Usage panel). */
export function consoleUsageRoute(ledger: UsageLedger) {
  return (app: Hono) => {
    app.get('/api/usage', async (context) => context.json(await usageOverview(ledger)));
  };
}
