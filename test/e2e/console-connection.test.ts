import type { Redis } from 'ioredis';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { launchChromium } from '../support/browser.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { collectPageErrors, contextFor, saveScreenshot } from '../support/console-screenshots.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
const subscribers: Redis[] = [];
let adapter: ConsoleAdapter;
let browser: Browser;
const sink = new RecordingSink();

/** A console on `port` (0: a free one), with a subscriber connection of its own. */
async function startConsole(port: number): Promise<ConsoleAdapter> {
  const subscriber = createRedisConnection(redis.url, {
    connectionName: `console-connection-${subscribers.length}`,
  });
  subscribers.push(subscriber);
  const started = consoleAdapterOn(runtime, subscriber, { port });
  await started.start(sink);
  return started;
}

beforeAll(async () => {
  runtime = await startRuntime();
  adapter = await startConsole(0);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await adapter?.stop();
  for (const subscriber of subscribers) subscriber.disconnect();
});

async function openLive(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId('connection-status').getByText('Live').waitFor();
  await page.getByTestId('new-thread').click();
  await page.locator('[data-testid="thread-item"][aria-current="page"]').waitFor();
}

describe('the console page when its server goes away (real Chromium)', () => {
  it('says so in a banner, disables the message box and stops its timers, then recovers when the server is back', async () => {
    const url = adapter.url!;
    const port = Number(new URL(url).port);
    const desktop = await (await contextFor(browser, 'desktop')).newPage();
    const phone = await (await contextFor(browser, 'phone')).newPage();
    const errors = collectPageErrors(desktop);
    await openLive(desktop, url);
    await openLive(phone, url);
    const input = desktop.getByTestId('composer-input');
    await input.fill('a draft typed before the outage');
    expect(await desktop.getByTestId('offline-banner').isVisible()).toBe(false);

    // The page polls the server for Redis's state every few seconds while it is up.
    const requests: string[] = [];
    const record = (request: Request) => {
      const path = new URL(request.url()).pathname;
      if (path !== '/api/events') requests.push(path);
    };
    desktop.on('request', record);
    await expect
      .poll(() => requests.filter((path) => path === '/api/status').length, { timeout: 10_000 })
      .toBeGreaterThan(0);

    await adapter.stop();
    for (const page of [desktop, phone]) {
      await page.getByTestId('offline-banner').waitFor({ state: 'visible', timeout: 10_000 });
      expect(await page.getByTestId('offline-banner').textContent()).toContain('cannot be reached');
      expect(await page.getByTestId('composer-input').isDisabled()).toBe(true);
      expect(await page.getByTestId('send-button').isDisabled()).toBe(true);
      expect(await page.getByTestId('connection-status').textContent()).toContain('Offline');
    }
    // What was typed is kept.
    expect(await input.inputValue()).toBe('a draft typed before the outage');
    await saveScreenshot(desktop, 'offline-desktop-1280');
    await saveScreenshot(phone, 'offline-phone-390');

    // Timers stopped: no request of the page's own for well over the polling interval (only the event
    // stream's reconnection attempts, which are the browser's).
    requests.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    expect(requests).toEqual([]);

    // The server comes back on the same port: the page reconnects by itself.
    adapter = await startConsole(port);
    for (const page of [desktop, phone]) {
      await page.getByTestId('offline-banner').waitFor({ state: 'hidden', timeout: 20_000 });
      expect(await page.getByTestId('composer-input').isDisabled()).toBe(false);
      await page.getByTestId('connection-status').getByText('Live').waitFor();
    }
    await expect
      .poll(() => requests.filter((path) => path === '/api/status').length, { timeout: 10_000 })
      .toBeGreaterThan(0);
    await input.press('Enter');
    await expect
      .poll(() => sink.messages.map((message) => message.text))
      .toEqual(['a draft typed before the outage']);
    await saveScreenshot(desktop, 'reconnected-desktop-1280');
    // The browser logs the refused reconnection attempts as console errors; nothing else may fail.
    expect(errors.filter((error) => !error.includes('ERR_CONNECTION_REFUSED'))).toEqual([]);
    await desktop.context().close();
    await phone.context().close();
  });
});
