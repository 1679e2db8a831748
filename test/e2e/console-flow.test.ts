import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ComposedGateway } from '../../src/cli/compose-gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { hangReply, type RecordedRequest, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { askInNewConsoleThread } from '../support/browser.ts';
import { useComposedConsole } from '../support/composed-console.ts';
import { deferred } from '../support/deferred.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
const composedConsole = useComposedConsole();
let runtime: BatonRuntime;
let composed: ComposedGateway;
let browser: Browser;

const steerable = 'Summarise the incident timeline';
const cancellable = 'Collect every alert from last night';
const steerReceived = deferred<string>();

beforeAll(async () => {
  fake.setHandler(
    scriptByGoal(
      {
        // Works until a steer reaches it, then finishes with it.
        [steerable]: async (request: RecordedRequest) => {
          const steer = messagesOf(request)
            .map((message) => String(message.content ?? ''))
            .find((content) => content.startsWith('[Steering message from'));
          if (steer) {
            steerReceived.resolve(steer);
            return textReply(`Timeline summarised, as asked: ${steer.split(']: ')[1]}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 300));
          return toolCallReply([{ name: 'check_again', arguments: {} }]);
        },
        [cancellable]: () => hangReply(),
      },
      (request) =>
        messagesOf(request).at(-1)?.role === 'tool'
          ? textReply('I started two background tasks.')
          : toolCallReply([
              { name: 'delegate_task_async', arguments: { goal: steerable } },
              { name: 'delegate_task_async', arguments: { goal: cancellable } },
            ]),
    ),
  );
  const config = buildTestConfig(
    testConfigLayer(fake, {
      console: { port: 0 },
      gateway: { board_interval_ms: 500 },
      delegation: { max_iterations: 200 },
    }),
  );
  runtime = await startRuntime(config);
  await runtime.startWorker();
  ({ composed, browser } = await composedConsole.start(runtime, { modelLabel: 'scripted test model' }));
});

describe('the web console', () => {
  it('chats, shows two tasks, steers one, cancels the other, posts the result and settles the board', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('dialog', (dialog) => void dialog.accept());
    await askInNewConsoleThread(page, composed.console!.url!, 'Please look into last night’s incident');

    const row = (goal: string) => page.locator('[data-testid="task-row"]', { hasText: goal });
    await row(steerable).and(page.locator('[data-status="running"]')).waitFor({ timeout: 20_000 });
    await row(cancellable).and(page.locator('[data-status="running"]')).waitFor({ timeout: 20_000 });
    const bot = page.locator('[data-testid="transcript-entry"][data-role="bot"]');
    await bot.getByText('I started two background tasks.').waitFor();

    const detail = page.getByTestId('task-detail');
    await row(steerable).click();
    await detail.getByTestId('steer-input').fill('Focus on the database failover');
    await detail.getByTestId('steer-button').click();
    expect(await steerReceived.promise).toBe('[Steering message from You]: Focus on the database failover');

    await row(cancellable).click();
    await detail.getByTestId('cancel-button').click();
    const confirm = detail.getByTestId('cancel-confirm');
    if (await confirm.isVisible()) await confirm.click();
    await row(cancellable).and(page.locator('[data-status="cancelled"]')).waitFor({ timeout: 20_000 });
    await row(steerable).and(page.locator('[data-status="completed"]')).waitFor({ timeout: 20_000 });

    await bot
      .getByText('Timeline summarised, as asked: Focus on the database failover')
      .waitFor({ timeout: 20_000 });
    await bot.getByText(/was cancelled/).waitFor({ timeout: 20_000 });
    await page.locator('[data-testid="board-card"][data-settled="true"]').waitFor({ timeout: 20_000 });
    const cancelledRequest = fake.requests.find((request) => goalOf(request) === cancellable);
    expect(cancelledRequest?.aborted).toBe(true);

    mkdirSync(path.resolve('test-output'), { recursive: true });
    await page.screenshot({ path: path.resolve('test-output/console-flow.png'), fullPage: true });
    await page.close();
  });
});
