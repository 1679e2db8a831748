import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ComposedGateway } from '../../src/cli/compose-gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { askInNewConsoleThread } from '../support/browser.ts';
import { useComposedConsole } from '../support/composed-console.ts';
import { messagesOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * A streamed reply in the console page (real Chromium) that outgrows one entry (20,000 characters) and then
 * restarts shorter (the model's text before a tool call, then its answer): the page shows the second entry
 * while the text is long, follows the first as it is replaced (streamed replacements are not marked
 * edited, and the page still takes each one), and drops the second, live, when the final reply no longer
 * needs it.
 */

const { fake, startRuntime } = useTestEnvironment();
const composedConsole = useComposedConsole();
let runtime: BatonRuntime;
let composed: ComposedGateway;
let browser: Browser;

const preamble = `${Array.from({ length: 3000 }, (_, index) => `note${index}`).join(' ')} `;
const answer = 'The short final answer.';

beforeAll(async () => {
  fake.setHandler((request) =>
    messagesOf(request).at(-1)?.role === 'tool'
      ? textReply(answer, { streamPieceChars: 8, streamIntervalMs: 100 })
      : toolCallReply([{ name: 'list_tasks', arguments: {} }], {
          content: preamble,
          streamPieceChars: 1500,
          streamIntervalMs: 150,
        }),
  );
  const config = buildTestConfig(
    testConfigLayer(fake, {
      console: { port: 0 },
      gateway: { stream_replies: true, stream_interval_ms: 100 },
    }),
  );
  runtime = await startRuntime(config);
  ({ composed, browser } = await composedConsole.start(runtime, { modelLabel: 'scripted test model' }));
});

describe('a streamed reply on the console page', () => {
  it('continues in a second entry while it is long, and that entry goes when the final reply is short', async () => {
    expect(preamble.length).toBeGreaterThan(20_000);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await askInNewConsoleThread(page, composed.console!.url!, 'what runs right now?');
    const bot = page.locator('[data-testid="transcript-entry"][data-role="bot"]');
    // Two entries while the text before the tool call is longer than one.
    await expect.poll(() => bot.count(), { timeout: 60_000 }).toBe(2);
    await expect
      .poll(
        async () => (await bot.count()) === 1 && (await bot.first().textContent())?.includes(answer) === true,
        {
          timeout: 60_000,
        },
      )
      .toBe(true);
    expect(await bot.count()).toBe(1);
    expect(await bot.first().textContent()).not.toContain('note0');
    // It went live, with the server's remove event; the transcript read afresh agrees.
    await page.reload();
    await expect.poll(() => bot.count(), { timeout: 30_000 }).toBe(1);
    await page.close();
  }, 180_000);
});
