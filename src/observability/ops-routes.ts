import type { Hono } from 'hono';
import type { HealthReport } from './health.ts';
import type { BatonMetrics } from './metrics.ts';

/** `GET /healthz`: the report as JSON, 200 when ok and 503 when not (what probes and orchestrators read). */
export function healthRoute(health: () => Promise<HealthReport>) {
  return (app: Hono) => {
    app.get('/healthz', async (context) => {
      const report = await health();
      return context.json(report, report.ok ? 200 : 503);
    });
  };
}

/** `GET /metrics`: Prometheus text. */
export function metricsRoute(metrics: BatonMetrics) {
  return (app: Hono) => {
    app.get('/metrics', async (context) =>
      context.body(await metrics.render(), 200, { 'content-type': metrics.contentType }),
    );
  };
}
