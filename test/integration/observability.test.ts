import { Queue } from 'bullmq';
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ModelCallRecord } from '../../src/llm/openai-model-client.ts';
import { findFreePort } from '../../src/net/free-port.ts';
import { checkHealth } from '../../src/observability/health.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import type { TaskStatus } from '../../src/tasks/task-record.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const redis = useTestRedis();

function modelCall(overrides: Partial<ModelCallRecord> = {}): ModelCallRecord {
  return {
    route: 'default',
    model: 'gpt-5-mini',
    latency_ms: 1200,
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    outcome: 'ok',
    attempts: 1,
    ...overrides,
  };
}

const taskCounts: Record<TaskStatus, number> = {
  queued: 3,
  running: 2,
  waiting_input: 4,
  waiting_approval: 1,
  completed: 7,
  failed: 1,
  cancelled: 0,
  timed_out: 0,
};

describe('metrics', () => {
  it('renders recorded model calls, deliveries and endings, and reads task and queue counts on scrape', async () => {
    const prefix = uniquePrefix('metrics');
    const queue = new Queue('metrics-test', { connection: createRedisConnection(redis.url), prefix });
    await queue.add('job', {});
    await queue.add('job', {});
    await queue.add('later', {}, { delay: 60_000 });
    let taskReads = 0;
    const metrics = createMetrics({
      countTasksByStatus: async () => {
        taskReads += 1;
        return taskCounts;
      },
      queueCounts: () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed'),
    });
    try {
      metrics.recordModelCall(modelCall());
      metrics.recordModelCall(modelCall({ latency_ms: 300, attempts: 3 }));
      metrics.recordModelCall(
        modelCall({
          route: 'large',
          outcome: 'model_rate_limited',
          usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
          attempts: 5,
        }),
      );
      metrics.recordDelivery('posted');
      metrics.recordDelivery('posted');
      metrics.recordDelivery('retried');
      metrics.recordTaskEnded('completed');
      metrics.recordTaskEnded('cancelled');
      expect(taskReads).toBe(0);

      const text = await metrics.render();
      expect(taskReads).toBe(1);
      const lines = text.split('\n');
      const expected = [
        'baton_model_call_duration_seconds_count{route="default",outcome="ok"} 2',
        'baton_model_call_duration_seconds_sum{route="default",outcome="ok"} 1.5',
        'baton_model_call_duration_seconds_bucket{le="0.5",route="default",outcome="ok"} 1',
        'baton_model_call_duration_seconds_bucket{le="2.5",route="default",outcome="ok"} 2',
        'baton_model_call_duration_seconds_count{route="large",outcome="model_rate_limited"} 1',
        'baton_model_call_retries_total{route="default"} 2',
        'baton_model_call_retries_total{route="large"} 4',
        'baton_model_tokens_total{route="default",kind="prompt"} 200',
        'baton_model_tokens_total{route="default",kind="completion"} 40',
        'baton_deliveries_total{outcome="posted"} 2',
        'baton_deliveries_total{outcome="retried"} 1',
        'baton_tasks_ended_total{status="completed"} 1',
        'baton_tasks_ended_total{status="cancelled"} 1',
        'baton_tasks{status="queued"} 3',
        'baton_tasks{status="running"} 2',
        'baton_tasks{status="waiting_input"} 4',
        'baton_tasks{status="waiting_approval"} 1',
        'baton_tasks{status="timed_out"} 0',
        'baton_queue_jobs{state="waiting"} 2',
        'baton_queue_jobs{state="delayed"} 1',
        'baton_queue_jobs{state="active"} 0',
      ];
      for (const line of expected) expect(lines).toContain(line);
      expect(text).toContain('# TYPE baton_model_call_duration_seconds histogram');
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
      expect(metrics.contentType).toContain('text/plain');
      // A dedicated registry: nothing leaks into prom-client's global one.
      expect(await globalRegistry.metrics()).not.toContain('baton_');
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('keeps scraping when a scrape-time read fails or hangs, leaving that gauge empty and counting the error', async () => {
    let failure: 'none' | 'throws' | 'hangs' = 'none';
    const metrics = createMetrics({
      processMetrics: false,
      readTimeoutMs: 100,
      countTasksByStatus: async () => {
        if (failure === 'throws') throw new Error('redis is away');
        if (failure === 'hangs') await new Promise(() => {});
        return taskCounts;
      },
    });
    expect(await metrics.render()).toContain('baton_tasks{status="completed"} 7');
    failure = 'throws';
    const text = await metrics.render();
    expect(text).not.toContain('baton_tasks{status="completed"}');
    expect(text).toContain('baton_metrics_read_errors_total{collector="tasks"} 1');
    expect(text).not.toContain('process_cpu');
    failure = 'hangs';
    const afterHang = await metrics.render();
    expect(afterHang).not.toContain('baton_tasks{status="completed"}');
    expect(afterHang).toContain('baton_metrics_read_errors_total{collector="tasks"} 2');
    failure = 'none';
    expect(await metrics.render()).toContain('baton_tasks{status="completed"} 7');
  });

  it('gives each instance its own registry, so two never clash', async () => {
    const first = createMetrics({ processMetrics: false });
    const second = createMetrics({ processMetrics: false });
    first.recordDelivery('failed');
    expect(await first.render()).toContain('baton_deliveries_total{outcome="failed"} 1');
    expect(await second.render()).not.toContain('baton_deliveries_total{outcome="failed"}');
  });
});

describe('health', () => {
  const healthy = { platform: 'discord', isHealthy: () => true };
  const down = { platform: 'slack', isHealthy: () => false };

  it('reports Redis ok, each adapter, and counts live worker heartbeats', async () => {
    const keys = new RedisKeys(uniquePrefix('health'));
    const otherKeys = new RedisKeys(uniquePrefix('health-other'));
    await redis.client.zadd(keys.workerHeartbeats(), Date.now() + 30_000, 'w1');
    await redis.client.zadd(keys.workerHeartbeats(), Date.now() + 30_000, 'w2');
    // A worker that died without removing itself: its heartbeat lapsed, so it is not counted.
    await redis.client.zadd(keys.workerHeartbeats(), Date.now() - 1, 'w-dead');
    await redis.client.zadd(otherKeys.workerHeartbeats(), Date.now() + 30_000, 'w3');

    const report = await checkHealth({ redis: redis.client, keys, adapters: [healthy, down] });
    expect(report).toEqual({
      ok: false,
      redis: 'ok',
      adapters: { discord: 'ok', slack: 'down' },
      workers: 2,
      problems: ['the slack adapter is down'],
    });

    const allHealthy = await checkHealth({ redis: redis.client, keys, adapters: [healthy] });
    expect(allHealthy).toEqual({ ok: true, redis: 'ok', adapters: { discord: 'ok' }, workers: 2 });
  });

  it('is ok with no workers and no adapters (a gateway without local workers)', async () => {
    const report = await checkHealth({
      redis: redis.client,
      keys: new RedisKeys(uniquePrefix('empty')),
      adapters: [],
    });
    expect(report).toEqual({ ok: true, redis: 'ok', adapters: {}, workers: 0 });
  });

  it('is not ok for a gateway with children queued and no worker to run them', async () => {
    const emptyKeys = new RedisKeys(uniquePrefix('queued'));
    const queued = await checkHealth({
      redis: redis.client,
      keys: emptyKeys,
      adapters: [],
      queuedChildren: async () => 3,
    });
    expect(queued).toEqual({
      ok: false,
      redis: 'ok',
      adapters: {},
      workers: 0,
      queued: 3,
      problems: ['3 children are queued and no worker is running'],
    });
    await redis.client.zadd(emptyKeys.workerHeartbeats(), Date.now() + 30_000, 'w1');
    const served = await checkHealth({
      redis: redis.client,
      keys: emptyKeys,
      adapters: [],
      queuedChildren: async () => 3,
    });
    expect(served).toMatchObject({ ok: true, workers: 1, queued: 3 });
  });

  it('says Redis is down at once when the process already knows it is', async () => {
    const report = await checkHealth({
      redis: redis.client,
      keys: new RedisKeys('x'),
      adapters: [],
      redisState: () => 'down',
    });
    expect(report).toMatchObject({ ok: false, redis: 'down' });
  });

  it('counts an adapter whose check throws as down', async () => {
    const throwing = {
      platform: 'console',
      isHealthy: (): boolean => {
        throw new Error('boom');
      },
    };
    const report = await checkHealth({ redis: redis.client, keys: new RedisKeys('x'), adapters: [throwing] });
    expect(report.adapters).toEqual({ console: 'down' });
    expect(report.ok).toBe(false);
  });

  it('reports Redis down within its time-out when nothing answers', async () => {
    const port = await findFreePort();
    const unreachable = createRedisConnection(`redis://127.0.0.1:${port}`, {
      retryStrategy: () => 200,
      lazyConnect: false,
    });
    unreachable.on('error', () => {});
    try {
      const startedAt = Date.now();
      const report = await checkHealth({
        redis: unreachable,
        keys: new RedisKeys('x'),
        adapters: [healthy],
        timeoutMs: 300,
      });
      expect(report).toEqual({
        ok: false,
        redis: 'down',
        adapters: { discord: 'ok' },
        workers: 0,
        problems: ['Redis does not answer'],
      });
      expect(Date.now() - startedAt).toBeLessThan(2000);
    } finally {
      unreachable.disconnect();
    }
  });
});
