import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

/** Where the console's browser tests leave their screenshots (git-ignored, under test-output/). */
export const consoleScreenshotDir = path.resolve('test-output/console-screenshots');

/** Saves a screenshot of the page's viewport as `<name>.png` and returns its path. */
export async function saveScreenshot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(consoleScreenshotDir, { recursive: true });
  const file = path.join(consoleScreenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** The widths the console is checked at: a desktop, a small laptop, and a phone (touch, no hover). */
export const viewports = {
  desktop: { width: 1280, height: 800 },
  laptop: { width: 1024, height: 768 },
  phone: { width: 390, height: 844 },
} as const;

/** A browser context of one of `viewports`; the phone one has touch and a mobile viewport. */
export function contextFor(browser: Browser, kind: keyof typeof viewports): Promise<BrowserContext> {
  return kind === 'phone'
    ? browser.newContext({ viewport: viewports.phone, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
    : browser.newContext({ viewport: viewports[kind] });
}

/** Fails the test on any script error or console error of the page. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}
