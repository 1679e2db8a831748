import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';

/*
 * The Docker image runs the compiled JavaScript of `npm run build`, not the TypeScript sources through tsx.
 * Whatever the code reads beside itself at run time (Lua scripts, the console's page, the default config, the
 * page-text worker thread) must be found there too.
 */

const checkout = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-compiled-'));
let child: ChildProcess | null = null;

beforeAll(() => {
  execFileSync('npm', ['run', 'build'], { cwd: checkout, stdio: 'pipe' });
}, 300_000);

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

describe('the compiled build', () => {
  it('converts a page on its worker thread without a TypeScript loader', async () => {
    const poolModule = path.join(checkout, 'dist/src/tools/web/page-text-pool.js');
    const { convertPageText, closePageTextPool } = (await import(poolModule)) as {
      convertPageText: (
        task: object,
        options: { timeoutMs: number; signal: AbortSignal },
      ) => Promise<{ title?: string; text: string }>;
      closePageTextPool: () => Promise<void>;
    };
    try {
      const page = await convertPageText(
        {
          body: new TextEncoder().encode('<title>Compiled</title><p>from dist</p>'),
          baseUrl: 'http://example.test/',
          maxHtmlChars: 10_000,
          maxTextChars: 10_000,
        },
        { timeoutMs: 30_000, signal: new AbortController().signal },
      );
      expect(page.title).toBe('Compiled');
      expect(page.text).toContain('from dist');
    } finally {
      await closePageTextPool();
    }
  });

  it('runs `start --demo` from dist/ and answers in the console', { timeout: 240_000 }, async () => {
    const configFile = path.join(directory, 'baton.yaml');
    writeFileSync(configFile, `redis:\n  local_data_dir: ${path.join(directory, 'redis')}\n`);
    const { OPENAI_API_KEY: _key, OPENAI_BASE_URL: _url, REDIS_URL: _redis, ...env } = process.env;
    // Run from another directory, as the image does from its own: nothing may depend on the checkout.
    child = spawn(process.execPath, [path.join(checkout, 'dist/src/cli/main.js'), 'start', '--demo'], {
      cwd: directory,
      env: { ...env, BATON_CONSOLE_PORT: '0', BATON_CONFIG: configFile, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const waitFor = async (what: string, timeoutMs: number, check: () => Promise<boolean>) => {
      try {
        await eventually(async () => ((await check()) ? true : undefined), timeoutMs, what);
      } catch (error) {
        throw new Error(`${(error as Error).message}; output:\n${output.slice(-6000)}`);
      }
    };
    await waitFor('the banner', 90_000, async () => {
      if (child?.exitCode !== null) throw new Error('the compiled build exited before its banner');
      return output.includes('Baton is running');
    });
    expect(output).not.toMatch(/tsx/);
    const url = /open (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? 'no console URL in the banner';
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script');

    const thread = await createConsoleThread(url, 'compiled');
    await postConsoleMessage(url, thread, 'Compare two job queues');
    await waitFor(
      'two results',
      120_000,
      async () => (await botTexts(url, thread)).filter((text) => text.includes('completed**')).length === 2,
    );
  });
});
