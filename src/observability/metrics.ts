import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryOutcome } from '../gateway/delivery/delivery-dependencies.ts';
import type { ModelCallRecord } from '../llm/openai-model-client.ts';
import { type TaskStatus, taskStatuses } from '../tasks/task-record.ts';
import type { UsageAmounts } from '../usage/usage-cost.ts';
import { withTimeout } from './with-timeout.ts';

export interface MetricsOptions {
  /** Read on every scrape for the `baton_tasks` gauge (tasks by status; a status left out counts 0). */
  countTasksByStatus?: () => Promise<Partial<Record<TaskStatus, number>>>;
  /** Read on every scrape for `baton_queue_jobs`, e.g. BullMQ `queue.getJobCounts('waiting', 'active', 'delayed', 'failed')`. */
  queueCounts?: () => Promise<Record<string, number>>;
  /**
   * Read on every scrape for `baton_usage_tokens` and `baton_usage_cost`: tokens and cost per model route
   * for today and the last 30 days (UTC), from the usage ledger in Redis, so every process's calls count.
   */
  usageByRoute?: () => Promise<Record<'today' | 'last_30_days', Record<string, UsageAmounts>>>;
  /** Longest a scrape-time read may take before its gauge is left empty for that scrape; default 2000 ms. */
  readTimeoutMs?: number;
  /** Node process metrics (`process_*`, `nodejs_*`, standard names for stock dashboards); default true. */
  processMetrics?: boolean;
}

/** Baton's Prometheus metrics, in a registry of their own (never prom-client's global one). */
export interface BatonMetrics {
  registry: Registry;
  /** Pass as the model client's `onCall` (BatonRuntime `onModelCall`). */
  recordModelCall(record: ModelCallRecord): void;
  recordDelivery(outcome: DeliveryOutcome): void;
  recordTaskEnded(status: TaskStatus): void;
  /** The text exposition for `GET /metrics`; runs the scrape-time collectors first. */
  render(): Promise<string>;
  /** The `content-type` header to send with `render()`. */
  contentType: string;
}

// Model calls run from well under a second to the two-minute call time-out, retries included.
const modelLatencyBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];

export function createMetrics(options: MetricsOptions = {}): BatonMetrics {
  const registry = new Registry();
  const registers = [registry];

  const readTimeoutMs = options.readTimeoutMs ?? 2000;
  const failedReads = new Map<string, number>();
  const readsInFlight: Array<Promise<void>> = [];
  /**
   * A failed or slow read (Redis away: ioredis queues commands until it is back) empties its gauge for
   * this scrape instead of failing or stalling the whole scrape, or showing stale numbers.
   */
  const readSafely = (gauge: Gauge<string>, collector: string, read: () => Promise<void>) => {
    const reading = withTimeout(read(), readTimeoutMs).catch(() => {
      gauge.reset();
      failedReads.set(collector, (failedReads.get(collector) ?? 0) + 1);
    });
    readsInFlight.push(reading);
    return reading;
  };

  /** A gauge of one label, filled on every scrape from `read` (label value to count); empty without one. */
  const scrapedGauge = (gauge: {
    name: string;
    help: string;
    label: string;
    collector: string;
    read: (() => Promise<Record<string, number>>) | undefined;
  }) =>
    new Gauge({
      name: gauge.name,
      help: gauge.help,
      labelNames: [gauge.label],
      registers,
      async collect() {
        const { read } = gauge;
        if (!read) return;
        await readSafely(this, gauge.collector, async () => {
          const counts = await read();
          this.reset();
          for (const [value, count] of Object.entries(counts)) this.set({ [gauge.label]: value }, count);
        });
      },
    });

  const { countTasksByStatus, queueCounts } = options;
  scrapedGauge({
    name: 'baton_tasks',
    help: 'Tasks held in Redis, by status.',
    label: 'status',
    collector: 'tasks',
    // Every status, so one with no tasks shows 0 rather than no series.
    read:
      countTasksByStatus &&
      (async () => {
        const counts = await countTasksByStatus();
        return Object.fromEntries(taskStatuses.map((status) => [status, counts[status] ?? 0]));
      }),
  });
  scrapedGauge({
    name: 'baton_queue_jobs',
    help: 'Child jobs in the BullMQ queue, by state.',
    label: 'state',
    collector: 'queue',
    read: queueCounts,
  });
  const { usageByRoute } = options;
  // One read fills both usage gauges: the cost gauge, registered second, waits for the tokens gauge's read.
  let usageRead: Promise<Record<'today' | 'last_30_days', Record<string, UsageAmounts>> | null> =
    Promise.resolve(null);
  new Gauge({
    name: 'baton_usage_tokens',
    help: 'Tokens used by model route, kind (input, cached, output) and period (today, last_30_days; UTC days).',
    labelNames: ['route', 'kind', 'period'] as const,
    registers,
    async collect() {
      if (!usageByRoute) return;
      usageRead = usageByRoute().catch(() => null);
      await readSafely(this, 'usage', async () => {
        const usage = await usageRead;
        if (!usage) throw new Error('usage not read');
        this.reset();
        for (const [period, routes] of Object.entries(usage)) {
          for (const [route, amounts] of Object.entries(routes)) {
            for (const kind of ['input', 'cached', 'output'] as const) {
              this.set({ route, kind, period }, amounts[kind]);
            }
          }
        }
      });
    },
  });
  new Gauge({
    name: 'baton_usage_cost',
    help: 'Cost (in the unit of models.routes.*.price) by model route and period (today, last_30_days; UTC days).',
    labelNames: ['route', 'period'] as const,
    registers,
    async collect() {
      if (!usageByRoute) return;
      const usage = await usageRead;
      this.reset();
      if (!usage) return;
      for (const [period, routes] of Object.entries(usage)) {
        for (const [route, amounts] of Object.entries(routes)) this.set({ route, period }, amounts.cost);
      }
    },
  });
  // Registered after the gauges, so a scrape has started their reads (prom-client starts every metric's
  // collect in registration order) and this one can wait for them and count this scrape's failures.
  new Counter({
    name: 'baton_metrics_read_errors_total',
    help: 'Scrape-time reads that failed or timed out (their gauge is empty for that scrape), by collector.',
    labelNames: ['collector'] as const,
    registers,
    async collect() {
      await Promise.all(readsInFlight.splice(0));
      for (const [collector, count] of failedReads) this.inc({ collector }, count);
      failedReads.clear();
    },
  });

  const modelLatency = new Histogram({
    name: 'baton_model_call_duration_seconds',
    help: 'Model calls from the first attempt to the end, retries included, by route and outcome (ok or error code).',
    labelNames: ['route', 'outcome'] as const,
    buckets: modelLatencyBuckets,
    registers,
  });
  const counter = <Label extends string>(name: string, help: string, labelNames: readonly Label[]) =>
    new Counter({ name, help, labelNames, registers });
  const modelRetries = counter(
    'baton_model_call_retries_total',
    'Extra attempts model calls needed (429, 5xx, time-outs), by route.',
    ['route'],
  );
  const modelTokens = counter(
    'baton_model_tokens_total',
    'Tokens the model endpoints reported, by route and kind (prompt or completion).',
    ['route', 'kind'],
  );
  const deliveries = counter(
    'baton_deliveries_total',
    'Result deliveries to chat threads, by outcome (posted, failed, retried).',
    ['outcome'],
  );
  const tasksEnded = counter(
    'baton_tasks_ended_total',
    'Tasks that reached an end status in this process, by status.',
    ['status'],
  );

  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });

  return {
    registry,
    contentType: registry.contentType,
    recordModelCall(record) {
      const route = record.route;
      modelLatency.observe({ route, outcome: record.outcome }, record.latency_ms / 1000);
      if (record.attempts > 1) modelRetries.inc({ route }, record.attempts - 1);
      // Zero increments still create the series, so a route shows up before its first tokens.
      modelTokens.inc({ route, kind: 'prompt' }, record.usage.prompt_tokens);
      modelTokens.inc({ route, kind: 'completion' }, record.usage.completion_tokens);
    },
    recordDelivery(outcome) {
      deliveries.inc({ outcome });
    },
    recordTaskEnded(status) {
      tasksEnded.inc({ status });
    },
    render: () => registry.metrics(),
  };
}
