import type { Browser, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ComposedGateway } from '../../src/cli/compose-gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { useComposedConsole } from '../support/composed-console.ts';
import { collectPageErrors, contextFor, saveScreenshot } from '../support/console-screenshots.ts';
import { messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
const composedConsole = useComposedConsole();
let runtime: BatonRuntime;
let composed: ComposedGateway;
let browser: Browser;

// Two tasks: one that takes two steps and restates its goal in its answer; one whose goal is one long
// unbroken word (a URL), longer than the tree and the board show.
const stepsGoal = 'Research the deploy logs of the payments service';
const longGoal = `Fetch https://logs.internal/${'a1b2c3d4'.repeat(30)} and list its errors`;

beforeAll(async () => {
  fake.setHandler(
    scriptByGoal(
      {
        [stepsGoal]: (_request, call) =>
          call === 1
            ? toolCallReply([{ name: 'check_again', arguments: {} }])
            : textReply(`**${stepsGoal}**\n\nThree errors, all in the card reader.`),
        [longGoal]: () => textReply('No errors in that log.'),
      },
      (request) =>
        messagesOf(request).at(-1)?.role === 'tool'
          ? textReply('I started two background tasks.')
          : toolCallReply([
              { name: 'delegate_task_async', arguments: { goal: stepsGoal } },
              { name: 'delegate_task_async', arguments: { goal: longGoal } },
            ]),
    ),
  );
  const config = buildTestConfig(
    testConfigLayer(fake, {
      console: { port: 0 },
      gateway: { board_interval_ms: 300 },
      models: { routes: { default: { price: { input: 2, output: 8 } } } },
    }),
  );
  runtime = await startRuntime(config);
  await runtime.startWorker();
  ({ composed, browser } = await composedConsole.start(runtime));
});

const entry = (page: Page) => page.locator('[data-testid="transcript-entry"]');

/** Whether an element's content is wider than its box (a long word pushing out of it). */
const overflows = (page: Page, selector: string) =>
  page.$$eval(selector, (nodes) => nodes.some((node) => node.scrollWidth > node.clientWidth + 1));

describe('a conversation that reads well (real gateway, worker and Chromium)', () => {
  it('puts the board below the reply, in the pane’s order, with activity for people, one clock, usage, wrapped goals, cut notices and plain glyphs', async () => {
    const context = await contextFor(browser, 'desktop');
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(composed.console!.url!);
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    await page.getByTestId('new-thread').click();
    await page.getByTestId('composer-input').fill('Why do card payments fail?');
    await page.getByTestId('composer-input').press('Enter');

    // Both results arrive, and the board settles.
    const results = page.locator('[data-testid="transcript-entry"][data-role="bot"]', {
      hasText: 'completed',
    });
    await results.nth(1).waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="board-card"][data-settled="true"]').waitFor({ timeout: 30_000 });

    // The order people read: their message, the reply that started the tasks, the board, then the results.
    const roles = await entry(page).evaluateAll((nodes) =>
      nodes.map(
        (node) =>
          `${node.getAttribute('data-role')}:${node.textContent?.includes('I started') ? 'reply' : ''}`,
      ),
    );
    expect(roles.slice(0, 3)).toEqual(['user:', 'bot:reply', 'board:']);
    expect(roles.slice(3)).toEqual(['bot:', 'bot:']);

    // The board lists the tasks in the order the task pane does (this thread's filter).
    await page.getByTestId('task-filter').getByText('This thread').click();
    const boardOrder = await page
      .locator('[data-testid="board-card"] .board-task')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-task-id')));
    const paneOrder = await page
      .getByTestId('task-row')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-task-id')));
    expect(boardOrder).toHaveLength(2);
    expect(paneOrder).toEqual(boardOrder);

    // Activity for people: no event names on the page, and the ending says how many steps it took.
    const stepsRow = page.locator('[data-testid="task-row"]', { hasText: stepsGoal });
    expect(await stepsRow.locator('.task-activity').textContent()).toMatch(
      /^\d\d:\d\d · finished after 2 steps$/,
    );
    const pageText = (await page.locator('body').textContent()) ?? '';
    for (const eventName of ['status-change', 'tool-call', 'tool-result', 'step-start', ' -> '])
      expect(pageText).not.toContain(eventName);

    // One clock: every time on the page reads HH:MM (24-hour), with the full date as its tooltip.
    const times = await page.locator('time').allTextContents();
    expect(times.length).toBeGreaterThan(3);
    for (const time of times) expect(time).toMatch(/^\d\d:\d\d$/);

    // A result that opens with its goal does not quote the goal again; its ✅ is a plain ✓.
    const stepsResult = results.filter({ hasText: 'card reader' });
    expect(await stepsResult.locator('blockquote').count()).toBe(0);
    expect(await stepsResult.locator('.markdown').textContent()).toMatch(/^✓ Task t_\w+ completed/);
    expect(pageText).not.toMatch(/[✅❌💸]/u);
    // The other result does not restate it: its goal is quoted.
    expect(await results.filter({ hasText: 'No errors in that log.' }).locator('blockquote').count()).toBe(1);

    // Long unbroken goals wrap inside their boxes; cut ones say so.
    const longRow = page.locator('[data-testid="task-row"]', { hasText: 'Fetch https://logs.internal/' });
    expect(await overflows(page, '[data-testid="task-row"], .board-task, .entry-body, .markdown')).toBe(
      false,
    );
    expect(await longRow.locator('.cut-notice').isVisible()).toBe(true);
    expect(await stepsRow.locator('.cut-notice').isVisible()).toBe(false);
    const boardLong = page.locator('.board-task', { hasText: 'Fetch https://logs.internal/' });
    expect(await boardLong.locator('.cut-notice').isVisible()).toBe(true);

    // Tokens and cost per task, from the recorded usage: in the pane, on the board and in the detail.
    const usagePattern = /^[\d,]+ tokens · cost \d+\.\d{4}$/;
    expect(await stepsRow.getByTestId('task-usage').textContent()).toMatch(usagePattern);
    const stepsId = await stepsRow.getAttribute('data-task-id');
    expect(await page.locator(`[data-testid="board-usage"][data-task-id="${stepsId}"]`).textContent()).toBe(
      await stepsRow.getByTestId('task-usage').textContent(),
    );
    await stepsRow.click();
    const detail = page.getByTestId('task-detail');
    expect(await detail.getByTestId('task-detail-usage').textContent()).toMatch(usagePattern);
    await detail.getByTestId('task-events').getByText('finished after 2 steps').waitFor();
    await detail.getByTestId('task-events').getByText('step 2 started').waitFor();
    await saveScreenshot(page, 'readability-desktop-1280-detail');
    await page.keyboard.press('Escape');
    await longRow.click();
    // The detail has the whole goal.
    expect(await detail.locator('.detail-goal').textContent()).toBe(longGoal);
    await page.keyboard.press('Escape');
    await saveScreenshot(page, 'readability-desktop-1280');

    await page.setViewportSize({ width: 1024, height: 768 });
    expect(await overflows(page, '[data-testid="task-row"], .board-task, .entry-body, .markdown')).toBe(
      false,
    );
    await saveScreenshot(page, 'readability-laptop-1024');

    const phone = await (await contextFor(browser, 'phone')).newPage();
    await phone.goto(page.url());
    await phone.getByTestId('connection-status').getByText('Live').waitFor();
    await phone.locator('[data-testid="board-card"]').waitFor();
    expect(await overflows(phone, '[data-testid="task-row"], .board-task, .entry-body, .markdown')).toBe(
      false,
    );
    await phone.locator('[data-testid="board-card"]').scrollIntoViewIfNeeded();
    await saveScreenshot(phone, 'readability-phone-390');
    expect(errors).toEqual([]);
    await context.close();
  });
});
