import type { Browser, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ComposedGateway } from '../../src/cli/compose-gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskOrigin } from '../../src/tasks/task-record.ts';
import { textReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { useComposedConsole } from '../support/composed-console.ts';
import { collectPageErrors, contextFor, saveScreenshot } from '../support/console-screenshots.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, startRuntime } = useTestEnvironment();
const composedConsole = useComposedConsole();
let runtime: BatonRuntime;
let composed: ComposedGateway;
let browser: Browser;

beforeAll(async () => {
  fake.setHandler(() => textReply('A model answer.'));
  const config = buildTestConfig(testConfigLayer(fake, { console: { port: 0 } }));
  runtime = await startRuntime(config);
  ({ composed, browser } = await composedConsole.start(runtime, { modelLabel: 'scripted test model' }));
});

/** Types a line in the message box and sends it with Enter. */
async function type(page: Page, text: string): Promise<void> {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
}

// Boards (the gateway posts one for the task made below) are left out: only people's lines and answers.
const entries = (page: Page) => page.locator('[data-testid="transcript-entry"]:not([data-role="board"])');

describe('chat commands in the console’s message box (real gateway, real Chromium)', () => {
  it('answers tasks, status, collect and help, with or without a slash, through the command router and never the model', async () => {
    const context = await contextFor(browser, 'desktop');
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(composed.console!.url!);
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    await page.getByTestId('new-thread').click();
    const threadId = (await page
      .locator('[data-testid="thread-item"][aria-current="page"]')
      .getAttribute('data-thread-id'))!;

    // A finished task of this thread, for status and collect.
    const origin: TaskOrigin = {
      platform: 'console',
      channel: 'console',
      thread: threadId,
      user: 'console',
      userName: 'You',
    };
    const [task] = await runtime.service.dispatch(
      {
        sessionKey: `console:console:${threadId}`,
        origin,
        callerTaskId: null,
        depth: 0,
        displayName: 'You',
      },
      [{ goal: 'Summarise the release notes' }],
    );
    await runtime.store.claim(task!.id, 'runner-1');
    await runtime.store.complete(task!, 'runner-1', {
      inboxCursor: '0-0',
      summary: 'Three fixes and one feature.',
      fullText: '**Release notes**: three fixes and one feature.',
      steps: 2,
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
    // Its result is delivered to the thread first.
    await page
      .locator('[data-testid="transcript-entry"][data-role="bot"]', { hasText: 'completed' })
      .waitFor();
    const base = await entries(page).count();
    const modelCallsBefore = fake.requests.length;

    const typed = [
      ['tasks', `${task!.id} · completed`],
      ['/tasks', `${task!.id} · completed`],
      [`status ${task!.id}`, 'last: '],
      [`/status ${task!.id}`, 'finished after 2 steps'],
      [`collect ${task!.id}`, 'three fixes and one feature'],
      [`/collect ${task!.id}`, 'three fixes and one feature'],
      ['help', 'Baton commands:'],
      ['/help', 'Baton commands:'],
      ['/frobnicate', 'Unknown command'],
    ] as const;
    for (const [index, [text, expected]] of typed.entries()) {
      await type(page, text);
      // Each command adds the person's line and the router's answer, in that order.
      await entries(page)
        .nth(index * 2 + 1)
        .waitFor();
      const question = entries(page).nth(base + index * 2);
      const answer = entries(page).nth(base + index * 2 + 1);
      expect(await question.getAttribute('data-role')).toBe('user');
      expect(await question.locator('.markdown').textContent()).toBe(text);
      expect(await question.getByTestId('command-tag').textContent()).toBe('command');
      expect(await answer.getAttribute('data-role')).toBe('bot');
      expect(await answer.textContent()).toContain(expected);
    }
    // status and help are answered privately (the router's ephemeral replies): marked as only-you notes;
    // collect posts for the thread, so it is not.
    const statusAnswer = entries(page).nth(base + 5);
    expect(await statusAnswer.getByTestId('only-you').textContent()).toBe(
      'Only you can see this: it is not posted anywhere else.',
    );
    expect(
      await entries(page)
        .nth(base + 9)
        .getByTestId('only-you')
        .count(),
    ).toBe(0);
    // No model call for any of them, and a command does not name the thread.
    expect(fake.requests.length).toBe(modelCallsBefore);
    expect(await page.getByTestId('conversation-title').textContent()).toBe('New thread');
    await saveScreenshot(page, 'commands-desktop-1280');

    // Words that only start like a command are a message for the model.
    await type(page, 'tasks for tomorrow: plan the release');
    await page
      .locator('[data-testid="transcript-entry"][data-role="bot"]', { hasText: 'A model answer.' })
      .waitFor();
    expect(fake.requests.length).toBe(modelCallsBefore + 1);

    // The transcript keeps them: a reload shows the same commands and answers.
    await page.reload();
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    await entries(page)
      .nth(typed.length * 2 + 1)
      .waitFor();
    expect(await page.getByTestId('only-you').count()).toBeGreaterThan(0);

    const phone = await (await contextFor(browser, 'phone')).newPage();
    await phone.goto(`${composed.console!.url!}/#thread=${threadId}`);
    await phone.getByTestId('connection-status').getByText('Live').waitFor();
    const note = phone.locator('[data-testid="only-you"]').first();
    await note.waitFor();
    await note.scrollIntoViewIfNeeded();
    await saveScreenshot(phone, 'commands-phone-390');
    expect(errors).toEqual([]);
    await context.close();
  });
});
