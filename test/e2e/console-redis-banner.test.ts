import type { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { launchChromium } from '../support/browser.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, startRuntime } = useTestEnvironment();
let subscriberRedis: Redis;
let adapter: ConsoleAdapter;
let browser: Browser;
let page: Page;
// What the runtime's RedisAvailability would say; the test flips it.
let redisState: 'up' | 'down' = 'up';

beforeAll(async () => {
  const runtime = await startRuntime();
  subscriberRedis = createRedisConnection(redis.url, { connectionName: 'console-banner-subscriber' });
  adapter = consoleAdapterOn(runtime, subscriberRedis, {}, { redisState: () => redisState });
  await adapter.start(new RecordingSink());
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

afterAll(async () => {
  await browser?.close();
  await adapter?.stop();
  subscriberRedis?.disconnect();
});

describe('console page when Redis is away', () => {
  it('shows a banner while the server says Redis is down, and hides it when it is back', async () => {
    await page.goto(adapter.url!);
    const banner = page.getByTestId('redis-banner');
    await page.getByTestId('connection-status').waitFor();
    expect(await banner.isVisible()).toBe(false);

    redisState = 'down';
    await banner.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await banner.textContent()).toContain('Redis cannot be reached');
    expect(await (await fetch(`${adapter.url}/api/status`)).json()).toEqual({ redis: 'down' });

    redisState = 'up';
    await banner.waitFor({ state: 'hidden', timeout: 15_000 });
  });
});
