import type { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import type { ConversationRef, TaskPrompt } from '../../src/gateway/chat-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { launchChromium } from '../support/browser.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { saveScreenshot } from '../support/console-screenshots.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let subscriberRedis: Redis;
let adapter: ConsoleAdapter;
let browser: Browser;
let page: Page;
let threadId: string;
const sink = new RecordingSink();
const pageErrors: string[] = [];

const consoleRef = (thread: string): ConversationRef => ({
  platform: 'console',
  channel: 'console',
  thread,
});

const lastCommand = () => sink.commands.at(-1);

beforeAll(async () => {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake)));
  subscriberRedis = createRedisConnection(redis.url, { connectionName: 'console-prompts-subscriber' });
  adapter = consoleAdapterOn(runtime, subscriberRedis);
  await adapter.start(sink);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(adapter.url!);
  await page.getByTestId('connection-status').getByText('Live').waitFor();
  await page.getByTestId('new-thread').click();
  const threadItem = page.locator('[data-testid="thread-item"][aria-current="page"]');
  await threadItem.waitFor();
  threadId = (await threadItem.getAttribute('data-thread-id'))!;
});

afterAll(async () => {
  await browser?.close();
  await adapter?.stop();
  subscriberRedis?.disconnect();
});

/** A task of the console thread, moved to `status` as the runtime would (no worker runs here). */
async function taskIn(status: string): Promise<string> {
  const origin = {
    platform: 'console',
    channel: 'console',
    thread: threadId,
    user: 'console',
    userName: 'You',
  };
  const [record] = await runtime.service.dispatch(
    {
      sessionKey: `console:console:${threadId}`,
      origin,
      callerTaskId: null,
      depth: 0,
      displayName: 'You',
      actor: { id: 'console', name: 'You', roleIds: [], trusted: true },
    },
    [{ goal: `A task that is ${status}` }],
  );
  await runtime.redis.hset(runtime.keys.task(record!.id), 'status', status);
  return record!.id;
}

describe('prompts in the console', () => {
  it('draws a question with its choices; a press posts `answer <id> #<n>` as the console user and shows the reply', async () => {
    sink.answer = (command) => ({ text: `Not waiting for an answer: ${command.text}`, ephemeral: true });
    const taskId = await taskIn('waiting_input');
    const question: TaskPrompt = {
      kind: 'question',
      taskId,
      goal: 'Pick the rollout window',
      ownerName: 'You',
      text: 'Which window should the rollout use?',
      choices: ['Tonight 22:00', 'Tomorrow 09:00'],
      expiresAt: Date.now() + 3_600_000,
    };
    await adapter.send(consoleRef(threadId), {
      kind: 'prompt',
      prompt: question,
      fallbackText: `Task ${taskId} asks: Which window should the rollout use?`,
      idempotencyKey: `prompt:${taskId}:1`,
    });
    const card = page.locator(`[data-testid="prompt-card"][data-task-id="${taskId}"]`);
    await card.waitFor();
    expect(await card.textContent()).toContain('Which window should the rollout use?');
    expect(await card.textContent()).toContain('asks · for You');
    const choices = card.getByTestId('prompt-choice');
    expect(await choices.allTextContents()).toEqual(['Tonight 22:00', 'Tomorrow 09:00']);
    await choices.nth(1).click();
    await card.getByTestId('prompt-reply').getByText('Not waiting for an answer').waitFor();
    expect(lastCommand()).toMatchObject({
      ref: consoleRef(threadId),
      user: { id: 'console', trusted: true },
      text: `answer ${taskId} #2`,
    });
  });

  it('redraws a settled prompt live: its outcome where the buttons were', async () => {
    const taskId = await taskIn('waiting_approval');
    const approval: TaskPrompt = {
      kind: 'approval',
      taskId,
      goal: 'Deploy to production',
      ownerName: 'You',
      text: 'terminal wants to run a command',
      choices: [],
      action: { tool: 'terminal', arguments: '{"command":"make deploy"}' },
      expiresAt: Date.now() + 3_600_000,
    };
    const { messageId } = await adapter.send(consoleRef(threadId), {
      kind: 'prompt',
      prompt: approval,
      fallbackText: `Task ${taskId} asks for approval`,
      idempotencyKey: `prompt:${taskId}:1`,
    });
    const card = page.locator(`[data-testid="prompt-card"][data-task-id="${taskId}"]`);
    sink.answer = (command) => ({ text: `Recorded: ${command.text}`, ephemeral: false });
    await card.getByTestId('prompt-deny').click();
    await card.getByTestId('prompt-reply').getByText(`Recorded: deny ${taskId}`).waitFor();
    await adapter.edit(consoleRef(threadId), messageId, {
      kind: 'prompt',
      prompt: {
        ...approval,
        outcome: { kind: 'denied', text: 'Denied by Bob — terminal: not on prod', at: Date.now() },
      },
      fallbackText: `Task ${taskId} waited for approval. Denied by Bob`,
    });
    const outcome = card.getByTestId('prompt-outcome');
    await outcome.waitFor();
    expect(await outcome.textContent()).toBe('Denied by Bob — terminal: not on prod');
    expect(await outcome.getAttribute('data-kind')).toBe('denied');
    expect(await card.textContent()).toContain('asked for approval · for You');
    // The presser's reply survives the redraw.
    expect(await card.getByTestId('prompt-reply').textContent()).toBe(`Recorded: deny ${taskId}`);
    expect(await card.getByTestId('prompt-approve').count()).toBe(0);
    expect(await card.getByTestId('prompt-deny').count()).toBe(0);
    expect(await card.locator('.prompt-expiry').count()).toBe(0);
    // The exact action stays readable.
    expect(await card.locator('.prompt-arguments').textContent()).toBe('{"command":"make deploy"}');
    await card.scrollIntoViewIfNeeded();
    await saveScreenshot(page, 'prompt-settled-desktop-1440');
    expect(pageErrors).toEqual([]);
  });

  it('draws an approval with the exact action; Deny posts `deny <id>`', async () => {
    sink.answer = (command) => ({ text: `Denied: ${command.text}`, ephemeral: false });
    const taskId = await taskIn('waiting_approval');
    await adapter.send(consoleRef(threadId), {
      kind: 'prompt',
      prompt: {
        kind: 'approval',
        taskId,
        goal: 'Clean the build cache',
        ownerName: 'You',
        text: 'terminal wants to run a command',
        choices: [],
        action: { tool: 'terminal', arguments: '{"command":"rm -rf build/"}', workspace: 'app' },
      },
      fallbackText: `Task ${taskId} asks for approval`,
    });
    const card = page.locator(`[data-testid="prompt-card"][data-task-id="${taskId}"]`);
    await card.waitFor();
    expect(await card.locator('.prompt-arguments').textContent()).toBe('{"command":"rm -rf build/"}');
    await card.getByTestId('prompt-deny').click();
    await card.getByTestId('prompt-reply').getByText(`Denied: deny ${taskId}`).waitFor();
    expect(lastCommand()?.text).toBe(`deny ${taskId}`);
  });

  it('offers an answer box, Approve / Deny with a reason, and a follow-up in the task panel by status', async () => {
    sink.answer = (command) => ({ text: `did: ${command.text}`, ephemeral: false });
    const waiting = await taskIn('waiting_input');
    await page.locator(`[data-testid="task-row"][data-task-id="${waiting}"]`).click();
    const controls = page.getByTestId('task-prompt-controls');
    await controls.getByTestId('answer-input').fill('tomorrow after nine');
    await controls.getByTestId('answer-button').click();
    await eventually(async () =>
      lastCommand()?.text === `answer ${waiting} tomorrow after nine` ? true : undefined,
    );

    const approval = await taskIn('waiting_approval');
    await page.locator(`[data-testid="task-row"][data-task-id="${approval}"]`).click();
    await controls.getByTestId('deny-input').fill('not on a Friday');
    await controls.getByTestId('deny-button').click();
    await eventually(async () =>
      lastCommand()?.text === `deny ${approval} not on a Friday` ? true : undefined,
    );
    await controls.getByTestId('approve-button').click();
    await eventually(async () => (lastCommand()?.text === `approve ${approval}` ? true : undefined));

    const completed = await taskIn('completed');
    await page.locator(`[data-testid="task-row"][data-task-id="${completed}"]`).click();
    await controls.getByTestId('follow-up-input').fill('also check X');
    await controls.getByTestId('follow-up-button').click();
    await eventually(async () =>
      lastCommand()?.text === `steer ${completed} also check X` ? true : undefined,
    );

    const queued = await taskIn('queued');
    await page.locator(`[data-testid="task-row"][data-task-id="${queued}"]`).click();
    await page.getByTestId('steer-input').waitFor();
    expect(await controls.isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
