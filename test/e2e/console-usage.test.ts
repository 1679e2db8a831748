import type { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { launchChromium } from '../support/browser.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let subscriberRedis: Redis;
let adapter: ConsoleAdapter;
let browser: Browser;

beforeAll(async () => {
  const config = buildTestConfig(testConfigLayer(fake));
  runtime = await startRuntime(config);
  subscriberRedis = createRedisConnection(redis.url, { connectionName: 'console-usage-subscriber' });
  adapter = consoleAdapterOn(runtime, subscriberRedis, {}, { usage: runtime.usage });
  await adapter.start(new RecordingSink());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await adapter?.stop();
  subscriberRedis?.disconnect();
});

describe('the console’s usage panel (real Chromium)', () => {
  it('shows tokens and cost per person, channel, task and route, today and over 30 days', async () => {
    const scope = { platform: 'slack', channel: 'C-OPS', user: 'U-ADA', taskId: 't_usage1' };
    await runtime.usage.record(scope, 'default', {
      input: 1500,
      cached: 500,
      output: 250,
      cost: 0.0125,
      calls: 3,
    });
    await runtime.usage.record({ ...scope, user: 'U-BO', taskId: null }, 'large', {
      input: 10,
      cached: 0,
      output: 5,
      cost: 0,
      calls: 1,
    });
    const page = await browser.newPage();
    await page.goto(adapter.url!);
    await page.getByTestId('usage-toggle').click();
    const today = page.getByTestId('usage-today');
    await today.waitFor();
    expect(await today.locator('h3').textContent()).toBe('Today: 2,265 tokens · cost 0.0125');
    const people = await page.getByTestId('usage-today-users').locator('tbody tr').allInnerTexts();
    expect(people[0]?.split('\t')).toEqual(['slack:U-ADA', '2,250', '1,500', '500', '250', '0.0125']);
    expect(people[1]?.split('\t')[0]).toBe('slack:U-BO');
    expect(await page.getByTestId('usage-today-tasks').textContent()).toContain('t_usage1');
    expect(await page.getByTestId('usage-month-channels').textContent()).toContain('slack:C-OPS');
    const routes = await page.getByTestId('usage-month-routes').locator('tbody th').allInnerTexts();
    expect(routes).toEqual(['default', 'large']);
    await page.close();
  });
});
