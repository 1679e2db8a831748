import type { Browser } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ComposedGateway } from '../../src/cli/compose-gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { askInNewConsoleThread } from '../support/browser.ts';
import { useComposedConsole } from '../support/composed-console.ts';
import { childAsksThenFinishes, goalOf, messagesOf, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 11 in the console, end to end: a child asks with two choices, the question is a card with a button
 * each, pressing one answers it and the child goes on with that answer; a second press finds the question
 * settled, says so, and changes nothing.
 */
const { fake, startRuntime } = useTestEnvironment();
const composedConsole = useComposedConsole();
let runtime: BatonRuntime;
let composed: ComposedGateway;
let browser: Browser;
const goal = 'Paint the deploy button';
const childRequests = () => fake.requests.filter((request) => goalOf(request) === goal);

beforeAll(async () => {
  fake.setHandler(
    childAsksThenFinishes(goal, { question: 'Which colour should the button be?', choices: ['red', 'blue'] }),
  );
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake, { console: { port: 0 } })));
  await runtime.startWorker();
  ({ composed, browser } = await composedConsole.start(runtime, { modelLabel: 'scripted test model' }));
});

describe('a child asks in a console thread', () => {
  it('a choice pressed on its card answers it, the result is posted once, a late press changes nothing; a follow-up reopens it', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await askInNewConsoleThread(page, composed.console!.url!, 'Please paint the deploy button');

    const card = page.getByTestId('prompt-card');
    await card.waitFor({ timeout: 20_000 });
    const taskId = (await card.getAttribute('data-task-id'))!;
    expect(await card.textContent()).toContain('Which colour should the button be?');
    expect((await runtime.store.get(taskId))?.status).toBe('waiting_input');
    const choices = card.getByTestId('prompt-choice');
    expect(await choices.allTextContents()).toEqual(['red', 'blue']);

    await choices.nth(1).click();
    await card
      .getByTestId('prompt-reply')
      .getByText(/Answer recorded/)
      .waitFor();
    await eventually(async () => (childRequests().length === 2 ? true : undefined), 20_000);
    expect(toolResultsOf(childRequests()[1]!).at(-1)).toEqual({ answer: 'blue', answered_by: 'You' });
    const results = page.locator('[data-testid="transcript-entry"][data-role="bot"]', {
      hasText: `Task ${taskId} completed`,
    });
    await results.first().waitFor({ timeout: 20_000 });
    expect(await results.first().textContent()).toContain('blue');

    // The card is redrawn settled: who answered what, its buttons gone.
    const outcome = card.getByTestId('prompt-outcome');
    await outcome.waitFor({ timeout: 20_000 });
    expect(await outcome.textContent()).toBe('Answered by You: #2 blue');
    expect(await choices.count()).toBe(0);

    // A late press (from a page that has not redrawn yet sends the same request): refused, nothing changes.
    const late = await page.evaluate(async (id) => {
      const response = await fetch(`/api/tasks/${id}/answer`, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify({ text: '#1' }),
      });
      return (await response.json()) as { reply?: string; error?: string };
    }, taskId);
    expect(late.reply ?? late.error).toMatch(/not waiting for an answer/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await results.count()).toBe(1);
    expect(childRequests()).toHaveLength(2);
    expect((await runtime.store.get(taskId))?.status).toBe('completed');

    // A follow-up from the task panel reopens it: a second round, its result posted in the thread too.
    await page.locator(`[data-testid="task-row"][data-task-id="${taskId}"]`).click();
    const controls = page.getByTestId('task-prompt-controls');
    await controls.getByTestId('follow-up-input').fill('also check X');
    await controls.getByTestId('follow-up-button').click();
    await eventually(async () => (childRequests().length === 3 ? true : undefined), 20_000);
    expect(JSON.stringify(messagesOf(childRequests()[2]!).at(-1))).toContain('also check X');
    await page
      .locator('[data-testid="transcript-entry"][data-role="bot"]', { hasText: 'round 2' })
      .waitFor({ timeout: 20_000 });
    expect(await results.count()).toBe(2);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
