import type { Hono } from 'hono';
import type { ConsoleReads } from '../../src/gateway/console-reads.ts';

/**
 * `GET /api/usage`: tokens and cost per person, channel, task and route, today and over 30 days (the Usage
 * panel); 404 when no usage is recorded.
 */
export function consoleUsageRoute(reads: Pick<ConsoleReads, 'usageOverview'>) {
  return (app: Hono) => {
    app.get('/api/usage', async (context) => {
      const overview = await reads.usageOverview();
      return overview ? context.json(overview) : context.json({ error: 'not found' }, 404);
    });
  };
}
