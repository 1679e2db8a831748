import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import type { ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { boardViewOf } from '../../src/gateway/render-board.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskOrigin } from '../../src/tasks/task-record.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { launchChromium } from '../support/browser.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const screenshotPath = path.resolve('test-output/console-page.png');

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let subscriberRedis: Redis;
let adapter: ConsoleAdapter;
let browser: Browser;
let page: Page;
const sink = new RecordingSink();
sink.answer = (command) => {
  const [verb, taskId] = command.text.split(' ');
  return {
    text: verb === 'steer' ? `Steering queued for ${taskId}.` : `Cancelled ${taskId}.`,
    ephemeral: true,
  };
};

function consoleRef(threadId: string): ConversationRef {
  return { platform: 'console', channel: 'console', thread: threadId };
}

function callerFor(origin: TaskOrigin, parent?: { taskId: string; depth: number }): TaskCaller {
  return {
    sessionKey: `${origin.platform}:${origin.channel}:${origin.thread}`,
    origin,
    callerTaskId: parent?.taskId ?? null,
    depth: parent?.depth ?? 0,
    displayName: origin.userName ?? origin.user,
  };
}

/** Moves a task to running as a worker would (no worker runs here, so statuses stay where tests put them). */
async function markRunning(taskId: string, steps: string[]): Promise<void> {
  await runtime.store.claim(taskId, `runner-${taskId}`);
  for (const [index, text] of steps.entries()) {
    await runtime.store.appendEvent(taskId, index % 2 === 0 ? 'tool-call' : 'tool-result', text);
  }
}

beforeAll(async () => {
  const config = buildTestConfig(testConfigLayer(fake, { delegation: { max_spawn_depth: 2 } }));
  runtime = await startRuntime(config);
  subscriberRedis = createRedisConnection(redis.url, { connectionName: 'console-e2e-subscriber' });
  adapter = consoleAdapterOn(runtime, subscriberRedis, {}, { modelLabel: 'offline demo model' });
  await adapter.start(sink);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await adapter?.stop();
  subscriberRedis?.disconnect();
});

describe('console page in a real browser', () => {
  it('chats in a thread, shows replies live, and steers and cancels a task from the tree', async () => {
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });

    await page.goto(adapter.url!);
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    expect(await page.getByTestId('model-badge').textContent()).toBe('offline demo model');

    await page.getByTestId('new-thread').click();
    const threadItem = page.locator('[data-testid="thread-item"][aria-current="page"]');
    await threadItem.waitFor();
    const threadId = (await threadItem.getAttribute('data-thread-id'))!;

    const input = page.getByTestId('composer-input');
    const send = page.getByTestId('send-button');
    expect(await send.isDisabled()).toBe(true);
    await input.fill('Check the deploy logs');
    await input.press('Shift+Enter');
    await input.pressSequentially('and the <b>error</b> rate');
    expect(await send.isDisabled()).toBe(false);
    await input.press('Enter');

    const userEntry = page.locator('[data-testid="transcript-entry"][data-role="user"]');
    await userEntry.getByText('Received').waitFor();
    // Shift+Enter made a line break; the typed tag is text, not markup.
    expect(await userEntry.locator('.markdown').textContent()).toBe(
      'Check the deploy logsand the <b>error</b> rate',
    );
    expect(await userEntry.locator('.markdown br').count()).toBe(1);
    expect(await userEntry.locator('b').count()).toBe(0);
    expect(sink.messages.map((message) => [message.ref, message.text, message.user.trusted])).toEqual([
      [consoleRef(threadId), 'Check the deploy logs\nand the <b>error</b> rate', true],
    ]);
    expect(await input.inputValue()).toBe('');
    expect(await send.isDisabled()).toBe(true);
    // The first message names the thread.
    await page.getByTestId('conversation-title').getByText('Check the deploy logs').waitFor();

    await adapter.showTyping(consoleRef(threadId));
    await page.getByTestId('typing-indicator').waitFor({ state: 'visible' });
    await adapter.send(consoleRef(threadId), {
      kind: 'text',
      text:
        'On it. I started **two background tasks**: one reads the deploy logs, one checks `error_rate` on the ' +
        'dashboard.\n\n- logs: last 24 h\n- metrics: p95 and 5xx\n\n<img src=x onerror="window.pwned=1"> ' +
        '[runbook](https://example.com/runbook) [bad](javascript:alert(1))',
    });
    const botEntry = page.locator('[data-testid="transcript-entry"][data-role="bot"]');
    await botEntry.waitFor();
    await page.getByTestId('typing-indicator').waitFor({ state: 'hidden' });
    expect(await botEntry.locator('strong').textContent()).toBe('two background tasks');
    expect(await botEntry.locator('code').textContent()).toBe('error_rate');
    expect(await botEntry.locator('li').count()).toBe(2);
    expect(await botEntry.locator('img').count()).toBe(0);
    expect(await botEntry.locator('a').count()).toBe(1);
    expect(await botEntry.locator('a').getAttribute('href')).toBe('https://example.com/runbook');
    expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();

    // Tasks: two in this thread (one nested under an orchestrator), and others from a Slack thread.
    const origin: TaskOrigin = {
      platform: 'console',
      channel: 'console',
      thread: threadId,
      user: 'console',
      userName: 'You',
    };
    const [logs, metrics] = await runtime.service.dispatch(callerFor(origin), [
      {
        goal: 'Read the deploy logs of the last 24 hours and list every error with its first occurrence',
        role: 'orchestrator',
      },
      { goal: 'Check error_rate p95 and 5xx counts on the metrics dashboard' },
    ]);
    await markRunning(logs!.id, [
      'fetch_url {"url":"https://logs.internal/deploy?since=24h"}',
      'fetch_url ok (18000 chars)',
    ]);
    const [child] = await runtime.service.dispatch(callerFor(origin, { taskId: logs!.id, depth: 1 }), [
      { goal: 'Group the errors by service and find the first failing release' },
    ]);
    await markRunning(child!.id, ['fetch_url https://releases.internal/api/releases']);

    const slack: TaskOrigin = {
      platform: 'slack',
      channel: 'C04OPS',
      thread: '1718.2001',
      user: 'U1',
      userName: 'Grace',
    };
    const [report, flaky] = await runtime.service.dispatch(callerFor(slack), [
      { goal: 'Draft the weekly on-call report from the incident channel' },
      { goal: 'Find the flaky integration tests of the last week' },
    ]);
    await runtime.store.claim(report!.id, 'runner-report');
    await runtime.store.complete(report!, 'runner-report', {
      inboxCursor: '0-0',
      summary: 'Three incidents this week; all resolved within SLO.',
      fullText:
        '**Weekly on-call report**\n\n- 3 incidents, all resolved within SLO\n- Longest: 42 min (payments)',
      steps: 6,
      usage: { prompt_tokens: 5200, completion_tokens: 900, total_tokens: 6100 },
    });
    await runtime.store.transition(flaky!, 'failed', { error: 'the CI API answered 503 three times' });

    const logsRow = page.locator(`[data-testid="task-row"][data-task-id="${logs!.id}"]`);
    await logsRow.waitFor();
    expect(await logsRow.getAttribute('data-status')).toBe('running');
    await page
      .locator(`[data-testid="task-row"][data-task-id="${metrics!.id}"][data-status="queued"]`)
      .waitFor();
    await page
      .locator(`[data-testid="task-row"][data-task-id="${report!.id}"][data-status="completed"]`)
      .waitFor();
    await page
      .locator(`[data-testid="task-row"][data-task-id="${flaky!.id}"][data-status="failed"]`)
      .waitFor();
    // The child is nested under its parent's row.
    await page
      .locator(`.task-item:has(> [data-task-id="${logs!.id}"]) [data-task-id="${child!.id}"]`)
      .waitFor();
    expect(await logsRow.textContent()).toContain('Running');
    // Activity reads for people, not as event names.
    expect(await logsRow.locator('.task-activity').textContent()).toMatch(/^\d\d:\d\d · fetch_url answered$/);

    await adapter.send(consoleRef(threadId), {
      kind: 'board',
      fallbackText: 'tasks',
      board: boardViewOf(
        `console:console:${threadId}`,
        [
          {
            taskId: logs!.id,
            parentTaskId: null,
            depth: 1,
            goal: 'Read the deploy logs',
            status: 'running',
            elapsedSeconds: 14,
            steps: 2,
            lastActivity: 'tool-result fetch_url: 200 OK',
          },
          {
            taskId: child!.id,
            parentTaskId: logs!.id,
            depth: 2,
            goal: 'Group the errors by service',
            status: 'running',
            elapsedSeconds: 6,
            steps: 1,
            lastActivity: 'tool-call fetch_url',
          },
          {
            taskId: metrics!.id,
            parentTaskId: null,
            depth: 1,
            goal: 'Check error_rate on the dashboard',
            status: 'queued',
            elapsedSeconds: 14,
            steps: 0,
            lastActivity: '',
          },
        ],
        false,
      ),
    });
    await page
      .locator('[data-testid="transcript-entry"][data-role="board"] [data-testid="board-card"]')
      .waitFor();

    // The detail panel, steer and cancel.
    await logsRow.click();
    const detail = page.getByTestId('task-detail');
    await detail.waitFor({ state: 'visible' });
    await detail.getByText('Read the deploy logs of the last 24 hours').waitFor();
    await detail
      .getByTestId('task-events')
      .getByText('using fetch_url: https://logs.internal/deploy?since=24h')
      .waitFor();
    expect(await detail.getByTestId('steer-button').isDisabled()).toBe(true);
    await detail.getByTestId('steer-input').fill('Start with the payments service');
    expect(await detail.getByTestId('steer-button').isDisabled()).toBe(false);
    await page.screenshot({ path: screenshotPath.replace('.png', '-detail.png') });
    await detail.getByTestId('steer-button').click();
    await detail.getByTestId('task-action-reply').getByText(`Steering queued for ${logs!.id}.`).waitFor();
    await detail.getByTestId('cancel-button').click();
    await detail.getByTestId('cancel-confirm').click();
    await detail.getByTestId('task-action-reply').getByText(`Cancelled ${logs!.id}.`).waitFor();
    expect(sink.commands.map((command) => [command.ref, command.text, command.user.trusted])).toEqual([
      [consoleRef(threadId), `steer ${logs!.id} Start with the payments service`, true],
      [consoleRef(threadId), `cancel ${logs!.id}`, true],
    ]);

    // A finished task shows its full summary and no controls; Escape closes the panel.
    await page.locator(`[data-testid="task-row"][data-task-id="${report!.id}"]`).click();
    await detail.getByTestId('task-summary').getByText('Weekly on-call report').waitFor();
    expect(await detail.getByTestId('steer-input').isVisible()).toBe(false);
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'hidden' });

    // A task ending elsewhere reaches the open page without a reload.
    await runtime.store.transition(metrics!, 'cancelled', { note: 'not needed' });
    await page
      .locator(`[data-testid="task-row"][data-task-id="${metrics!.id}"][data-status="cancelled"]`)
      .waitFor();

    mkdirSync(path.dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.locator(`[data-testid="task-row"][data-task-id="${logs!.id}"]`).click();
    await detail.waitFor({ state: 'visible' });
    await page.screenshot({ path: screenshotPath.replace('.png', '-dark.png') });
    await eventually(async () => (sink.messages.length === 1 ? true : undefined), 1_000, 'no extra messages');
    expect(pageErrors).toEqual([]);
  });
});
