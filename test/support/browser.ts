import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium, headless; the flags keep it from reaching out to the network at start-up. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Opens the console at `consoleUrl` in `page`, waits until it is live, and sends `text` in a new thread. */
export async function askInNewConsoleThread(page: Page, consoleUrl: string, text: string): Promise<void> {
  await page.goto(consoleUrl);
  await page.getByTestId('connection-status').getByText('Live').waitFor();
  await page.getByTestId('new-thread').click();
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('send-button').click();
}
