import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { listenError } from '../errors.ts';
import type { HealthReport } from './health.ts';
import type { BatonMetrics } from './metrics.ts';
import { healthRoute, metricsRoute } from './ops-routes.ts';

export interface OpsServerOptions {
  host: string;
  /** 0 picks a free port (several workers on one machine); the URL is logged. */
  port: number;
  health: () => Promise<HealthReport>;
  metrics: BatonMetrics;
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The ops endpoint every Baton process serves, the worker included: `GET /healthz` (200 when ok, 503 when
 * not) and `GET /metrics` (Prometheus text). For probes and scrapers; bind it to loopback or a private network.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const app = new Hono();
  healthRoute(options.health)(app);
  metricsRoute(options.metrics)(app);
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const created = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, () =>
        resolve(created as Server),
      );
      created.once('error', reject);
    });
  } catch (error) {
    throw listenError(
      'the ops endpoint',
      options.host,
      options.port,
      'set BATON_OPS_PORT (or ops.port) to a free port, or 0 for any',
      error,
    );
  }
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${shownHost}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
