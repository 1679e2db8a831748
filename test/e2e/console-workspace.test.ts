import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComposedGateway } from '../../src/cli/compose-gateway.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { askInNewConsoleThread } from '../support/browser.ts';
import { useComposedConsole } from '../support/composed-console.ts';
import { git, makeSourceRepository } from '../support/git-fixtures.ts';
import { messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * Issue 10, the console: a child that changed its workspace shows "±N files" on the board, its detail shows
 * the diff (files and hunks), and the Merge button merges it into the source's branch.
 */
const { fake, startRuntime } = useTestEnvironment();
let source: string;
let scratch: string;
// Registered before useComposedConsole, so it runs after the gateway and browser are closed (hooks run in reverse).
afterAll(() => {
  rmSync(source, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});
const composedConsole = useComposedConsole();
let runtime: BatonRuntime;
let composed: ComposedGateway;
let browser: Browser;
const goal = 'Bump the version';

beforeAll(async () => {
  source = makeSourceRepository({ VERSION: '1.0.0\n', 'README.md': '# app\n' });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-console-ws-'));
  fake.setHandler(
    scriptByGoal(
      {
        [goal]: (_request, call) =>
          call === 1
            ? toolCallReply([
                {
                  name: 'edit_file',
                  arguments: { path: 'VERSION', old_string: '1.0.0', new_string: '1.1.0' },
                },
              ])
            : textReply('Bumped to 1.1.0.'),
      },
      (request) =>
        messagesOf(request).at(-1)?.role === 'tool'
          ? textReply('Started.')
          : toolCallReply([
              { name: 'delegate_task_async', arguments: { goal, toolsets: ['file'], workspace: 'app' } },
            ]),
    ),
  );
  const config = buildTestConfig(
    testConfigLayer(fake, {
      console: { port: 0 },
      gateway: { board_interval_ms: 500 },
      workspaces: { app: { source, ref: 'main' } },
      workspace: { store: path.join(scratch, 'store.git'), root: path.join(scratch, 'worktrees') },
    }),
  );
  runtime = await startRuntime(config);
  await runtime.startWorker();
  ({ composed, browser } = await composedConsole.start(runtime));
});

describe('a workspace task in the console', () => {
  it('shows ±N files on the board, the diff in its detail, and merges with the Merge button', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await askInNewConsoleThread(page, composed.console!.url!, 'Bump the version please');

    const row = page.locator('[data-testid="task-row"]', { hasText: goal });
    await row.and(page.locator('[data-status="completed"]')).waitFor({ timeout: 30_000 });
    await row.getByText('±1 file').waitFor({ timeout: 10_000 });
    await row.click();
    const detail = page.getByTestId('task-detail');
    const diff = detail.getByTestId('diff-view');
    await diff.getByText('VERSION  +1 −1').waitFor({ timeout: 10_000 });
    expect(await diff.locator('.diff-removed').allTextContents()).toEqual(['-1.0.0\n']);
    expect(await diff.locator('.diff-added').allTextContents()).toEqual(['+1.1.0\n']);
    expect(await detail.getByTestId('task-changes').locator('h3').textContent()).toBe(
      'Changes in app ±1 file',
    );

    await detail.getByTestId('merge-button').click();
    await detail
      .getByTestId('task-action-reply')
      .getByText(/^Merged t_\w+ \(baton\/t_\w+\) into main as/)
      .waitFor({
        timeout: 20_000,
      });
    expect(readFileSync(path.join(source, 'VERSION'), 'utf8')).toBe('1.1.0\n');
    expect(git(source, 'log', '-1', '--format=%s')).toMatch(/^Merge task t_\w+ \(baton\/t_\w+\) into main$/);
    await page.close();
  });
});
