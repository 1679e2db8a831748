import type { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import type { ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskOrigin } from '../../src/tasks/task-record.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { launchChromium } from '../support/browser.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { collectPageErrors, contextFor, saveScreenshot } from '../support/console-screenshots.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let subscriberRedis: Redis;
let adapter: ConsoleAdapter;
let browser: Browser;

beforeAll(async () => {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake)));
  subscriberRedis = createRedisConnection(redis.url, { connectionName: 'console-usability-subscriber' });
  adapter = consoleAdapterOn(runtime, subscriberRedis, {}, { usage: runtime.usage });
  await adapter.start(new RecordingSink());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await adapter?.stop();
  subscriberRedis?.disconnect();
});

const ref = (thread: string): ConversationRef => ({ platform: 'console', channel: 'console', thread });
const say = (thread: string, text: string) => adapter.send(ref(thread), { kind: 'text', text });

function callerIn(origin: TaskOrigin): TaskCaller {
  return {
    sessionKey: `${origin.platform}:${origin.channel}:${origin.thread}`,
    origin,
    callerTaskId: null,
    depth: 0,
    displayName: origin.userName ?? origin.user,
  };
}

const consoleOrigin = (thread: string): TaskOrigin => ({
  platform: 'console',
  channel: 'console',
  thread,
  user: 'console',
  userName: 'You',
});

/** Opens a new thread; the page may have opened an earlier one at load, so waits for one not seen before. */
async function openNewThread(page: Page): Promise<string> {
  const before = await page
    .getByTestId('thread-item')
    .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-thread-id')));
  await page.getByTestId('new-thread').click();
  const current = page.locator('[data-testid="thread-item"][aria-current="page"]');
  await expect
    .poll(async () => {
      const id = await current.getAttribute('data-thread-id').catch(() => null);
      return id && !before.includes(id) ? id : null;
    })
    .not.toBeNull();
  return (await current.getAttribute('data-thread-id'))!;
}

/** Where the message list is scrolled: distance from the end, and whether an entry's top is in view. */
const listState = (page: Page) =>
  page.getByTestId('message-list').evaluate((list) => ({
    fromEnd: list.scrollHeight - list.scrollTop - list.clientHeight,
    scrollTop: list.scrollTop,
  }));

const topInView = (page: Page, entryText: string) =>
  page.getByTestId('message-list').evaluate((list, text) => {
    const entry = [...list.querySelectorAll('[data-testid="transcript-entry"]')].find((node) =>
      node.textContent?.includes(text),
    );
    if (!entry) return false;
    const box = list.getBoundingClientRect();
    const top = entry.getBoundingClientRect().top;
    return top >= box.top - 1 && top < box.bottom - 40;
  }, entryText);

describe('the console page for a new user (real Chromium)', () => {
  it('follows new messages, shows a tall result from its top, and offers a New messages pill once scrolled up', async () => {
    const page = await (await contextFor(browser, 'desktop')).newPage();
    const errors = collectPageErrors(page);
    await page.goto(adapter.url!);
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    const thread = await openNewThread(page);
    for (let index = 1; index <= 25; index += 1) await say(thread, `Short update number ${index}.`);
    await page.getByText('Short update number 25.').waitFor();
    await expect.poll(async () => (await listState(page)).fromEnd, { timeout: 5_000 }).toBeLessThan(2);

    // A result taller than the view: the view shows its beginning.
    const tall = `Long result: first line.\n\n${Array.from({ length: 80 }, (_, line) => `- finding ${line + 1}`).join('\n')}`;
    await say(thread, tall);
    await page.getByText('finding 80').waitFor();
    await expect.poll(() => topInView(page, 'Long result: first line.'), { timeout: 5_000 }).toBe(true);
    expect(await page.getByTestId('new-messages').isVisible()).toBe(false);

    // The person is reading it: the next message does not pull the view away, the pill offers it.
    const reading = (await listState(page)).scrollTop;
    await say(thread, 'A message after the long one.');
    await page.getByTestId('new-messages').waitFor({ state: 'visible' });
    expect((await listState(page)).scrollTop).toBe(reading);
    await saveScreenshot(page, 'follow-pill-desktop-1280');
    await page.getByTestId('new-messages').click();
    await expect.poll(async () => (await listState(page)).fromEnd, { timeout: 5_000 }).toBeLessThan(2);
    expect(await page.getByTestId('new-messages').isVisible()).toBe(false);

    // Following again: a new message scrolls into view.
    await say(thread, 'Back at the end.');
    await page.getByText('Back at the end.').waitFor();
    await expect.poll(async () => (await listState(page)).fromEnd, { timeout: 5_000 }).toBeLessThan(2);

    // The person scrolls up (the wheel): the view stays put and the pill appears.
    await page.getByTestId('message-list').hover();
    await page.mouse.wheel(0, -1500);
    await expect.poll(async () => (await listState(page)).fromEnd, { timeout: 5_000 }).toBeGreaterThan(500);
    const scrolledTo = (await listState(page)).scrollTop;
    await say(thread, 'Something new while you read.');
    await page.getByTestId('new-messages').waitFor({ state: 'visible' });
    expect((await listState(page)).scrollTop).toBe(scrolledTo);
    // Their own message brings them back to the end.
    await page.getByTestId('composer-input').fill('ok');
    await page.getByTestId('composer-input').press('Enter');
    await expect.poll(async () => (await listState(page)).fromEnd, { timeout: 5_000 }).toBeLessThan(2);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('renames and archives threads, and filters the task pane to this thread, active or all', async () => {
    const page = await (await contextFor(browser, 'desktop')).newPage();
    const errors = collectPageErrors(page);
    await page.goto(adapter.url!);
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    const first = await openNewThread(page);
    await say(first, 'Hello from the first thread.');
    const second = await openNewThread(page);

    // Rename: the header's form, saved with Enter; the list, the header and the server agree.
    await page.getByTestId('rename-thread').click();
    await page.getByTestId('rename-input').fill('Release checklist');
    await page.getByTestId('rename-input').press('Enter');
    await page.getByTestId('conversation-title').getByText('Release checklist').waitFor();
    await page
      .locator(`[data-testid="thread-item"][data-thread-id="${second}"]`, { hasText: 'Release checklist' })
      .waitFor();
    expect(
      (await adapter.url) && (await (await page.request.get(`${adapter.url}/api/threads`)).json()),
    ).toMatchObject({
      threads: expect.arrayContaining([expect.objectContaining({ id: second, title: 'Release checklist' })]),
    });
    // A later first message no longer renames it.
    await page.getByTestId('composer-input').fill('Please prepare the release');
    await page.getByTestId('composer-input').press('Enter');
    await page.getByTestId('entry-state').getByText('Received').waitFor();
    expect(await page.getByTestId('conversation-title').textContent()).toBe('Release checklist');
    // Bad input is refused with a clear error.
    const empty = await page.request.patch(`${adapter.url}/api/threads/${second}`, { data: { title: '  ' } });
    expect(empty.status()).toBe(400);
    expect(
      (
        await page.request.patch(`${adapter.url}/api/threads/zzzzzzzz`, { data: { archived: true } })
      ).status(),
    ).toBe(404);

    // Tasks: one running in each console thread, one finished in the second, one in Slack.
    const [firstTask] = await runtime.service.dispatch(callerIn(consoleOrigin(first)), [
      { goal: 'Task of the first thread' },
    ]);
    const [running, finished] = await runtime.service.dispatch(callerIn(consoleOrigin(second)), [
      { goal: 'Check the release notes' },
      { goal: 'Tag the release candidate' },
    ]);
    await runtime.store.claim(finished!.id, 'runner-1');
    await runtime.store.complete(finished!, 'runner-1', {
      inboxCursor: '0-0',
      summary: 'Tagged.',
      fullText: 'Tagged.',
      steps: 1,
      usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
    });
    await runtime.service.dispatch(
      callerIn({ platform: 'slack', channel: 'C1', thread: '1.2', user: 'U1', userName: 'Grace' }),
      [{ goal: 'A Slack task' }],
    );
    const rowIds = () =>
      page
        .getByTestId('task-row')
        .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-task-id')).sort());
    await page.getByTestId('task-row').nth(3).waitFor();
    expect((await rowIds()).length).toBe(4);

    await page.getByTestId('task-filter').getByText('This thread').click();
    await expect.poll(rowIds).toEqual([running!.id, finished!.id].sort());
    await saveScreenshot(page, 'threads-filter-this-thread-desktop-1280');
    await page.getByTestId('task-filter').getByText('Active').click();
    await expect.poll(async () => (await rowIds()).length).toBe(3);
    expect(await rowIds()).not.toContain(finished!.id);
    // The choice is kept across a reload; "This thread" follows the open thread.
    await page.getByTestId('task-filter').getByText('This thread').click();
    await page.locator(`[data-testid="thread-item"][data-thread-id="${first}"]`).click();
    await expect.poll(rowIds).toEqual([firstTask!.id]);
    await page.reload();
    await page.getByTestId('connection-status').getByText('Live').waitFor();
    await expect.poll(rowIds).toEqual([firstTask!.id]);
    expect(await page.getByTestId('task-filter').locator('[aria-pressed="true"]').textContent()).toBe(
      'This thread',
    );
    await page.getByTestId('task-filter').getByText('All').click();
    await expect.poll(async () => (await rowIds()).length).toBe(4);

    // Archive: the thread moves under Archived, still readable; new activity brings it back.
    await page.getByTestId('archive-thread').click();
    await page.getByTestId('archived-threads').waitFor({ state: 'visible' });
    expect(await page.getByTestId('archived-toggle').textContent()).toBe('Archived (1)');
    expect(await page.getByTestId('thread-list').locator(`[data-thread-id="${first}"]`).count()).toBe(0);
    expect(await page.getByTestId('conversation-meta').textContent()).toContain('archived');
    expect(await page.getByTestId('archive-thread').textContent()).toBe('Unarchive');
    await page.getByTestId('archived-toggle').click();
    await saveScreenshot(page, 'threads-archived-desktop-1280');
    await say(first, 'A late reply in the archived thread.');
    await page.getByTestId('thread-list').locator(`[data-thread-id="${first}"]`).waitFor();
    await page.getByTestId('archived-threads').waitFor({ state: 'hidden' });

    // Renaming on a phone works the same way.
    const phone = await (await contextFor(browser, 'phone')).newPage();
    await phone.goto(`${adapter.url}/#thread=${second}`);
    await phone.getByTestId('connection-status').getByText('Live').waitFor();
    await phone.getByTestId('conversation-title').getByText('Release checklist').waitFor();
    await phone.getByTestId('rename-thread').tap();
    await phone.getByTestId('rename-input').fill('Release 2.4');
    await phone.getByTestId('rename-form').getByText('Save').tap();
    await phone.getByTestId('conversation-title').getByText('Release 2.4').waitFor();
    await page
      .locator(`[data-testid="thread-item"][data-thread-id="${second}"]`, { hasText: 'Release 2.4' })
      .waitFor();
    await saveScreenshot(phone, 'threads-renamed-phone-390');
    expect(errors).toEqual([]);
    await page.context().close();
    await phone.context().close();
  });

  it('says when a long thread no longer keeps its oldest messages', async () => {
    const smallSubscriber = createRedisConnection(redis.url, { connectionName: 'console-usability-small' });
    const small = consoleAdapterOn(runtime, smallSubscriber, {}, { maxEntriesPerThread: 5 });
    await small.start(new RecordingSink());
    try {
      const page = await (await contextFor(browser, 'desktop')).newPage();
      await page.goto(small.url!);
      await page.getByTestId('connection-status').getByText('Live').waitFor();
      const thread = await openNewThread(page);
      for (let index = 1; index <= 5; index += 1)
        await small.send(ref(thread), { kind: 'text', text: `Reply ${index}` });
      await page.getByText('Reply 5').waitFor();
      expect(await page.getByTestId('dropped-notice').count()).toBe(0);
      for (let index = 6; index <= 8; index += 1)
        await small.send(ref(thread), { kind: 'text', text: `Reply ${index}` });
      // Live: the notice appears as the thread drops its oldest; a reload shows only what is kept.
      await page.getByTestId('dropped-notice').getByText('3 older messages are no longer kept').waitFor();
      await page.reload();
      await page.getByTestId('dropped-notice').waitFor();
      expect(await page.getByTestId('transcript-entry').count()).toBe(5);
      expect(
        await page.getByTestId('message-list').locator(':scope > *').first().getAttribute('data-testid'),
      ).toBe('dropped-notice');
      await saveScreenshot(page, 'dropped-notice-desktop-1280');
      await page.context().close();
    } finally {
      await small.stop();
      smallSubscriber.disconnect();
    }
  });

  it('keeps the chat usable at 1024×768 and opens at the top on a phone, with the tasks one tap away', async () => {
    const laptop = await (await contextFor(browser, 'laptop')).newPage();
    const errors = collectPageErrors(laptop);
    await laptop.goto(adapter.url!);
    await laptop.getByTestId('connection-status').getByText('Live').waitFor();
    const thread = await openNewThread(laptop);
    for (let index = 1; index <= 30; index += 1) await say(thread, `Line ${index} of a long conversation.`);
    await laptop.getByText('Line 30 of a long conversation.').waitFor();
    const box = async (page: Page, testId: string) => (await page.getByTestId(testId).boundingBox())!;
    // Three columns side by side, the conversation at full height with its message box on screen.
    const threads = await box(laptop, 'thread-list');
    const messages = await box(laptop, 'message-list');
    const tree = await box(laptop, 'task-tree');
    expect(threads.x + threads.width).toBeLessThanOrEqual(messages.x + 1);
    expect(messages.x + messages.width).toBeLessThanOrEqual(tree.x + 1);
    expect(messages.width).toBeGreaterThan(450);
    expect(messages.height).toBeGreaterThan(450);
    const composer = await box(laptop, 'composer');
    expect(composer.y + composer.height).toBeLessThanOrEqual(768);
    expect(await laptop.locator('.keyboard-hint').isVisible()).toBe(true);
    await saveScreenshot(laptop, 'layout-laptop-1024');

    const phone = await (await contextFor(browser, 'phone')).newPage();
    await phone.goto(`${adapter.url}/#thread=${thread}`);
    await phone.getByTestId('connection-status').getByText('Live').waitFor();
    await phone.getByText('Line 30 of a long conversation.').waitFor();
    // Opens at the top: the header and its Threads · Chat · Tasks links, not the end of the page.
    expect(await phone.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)).toBe(0);
    expect(
      await phone
        .getByTestId('composer-input')
        .evaluate((input) => input === input.ownerDocument.activeElement),
    ).toBe(false);
    // No keyboard: the Enter hint is hidden; the commands hint stays.
    expect(await phone.locator('.keyboard-hint').isVisible()).toBe(false);
    expect(await phone.locator('#composer-hint').isVisible()).toBe(true);
    await saveScreenshot(phone, 'layout-phone-390-top');
    // The task tree is one tap away.
    await phone.getByTestId('jump-tasks').tap();
    await expect
      .poll(() => phone.locator('#tasks-heading').evaluate((heading) => heading.getBoundingClientRect().top))
      .toBeLessThan(200);
    expect(await phone.getByTestId('task-tree').isVisible()).toBe(true);
    await saveScreenshot(phone, 'layout-phone-390-tasks');
    expect(errors).toEqual([]);
    await laptop.context().close();
    await phone.context().close();
  });
});
