import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { portIsOpen } from '../support/port-is-open.ts';

let child: ChildProcess | null = null;

const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-demo-'));

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

describe('npm run demo', () => {
  // The budget is generous: on a loaded two-core machine the first start also compiles the sources.
  it('starts with no API key and answers in the console, then stops cleanly', {
    timeout: 240_000,
  }, async () => {
    const configFile = path.join(directory, 'baton.yaml');
    // Only the data directory moves, so the test leaves nothing in the checkout.
    writeFileSync(configFile, `redis:\n  local_data_dir: ${path.join(directory, 'redis')}\n`);
    const { OPENAI_API_KEY: _key, OPENAI_BASE_URL: _url, REDIS_URL: _redis, ...env } = process.env;
    child = spawn('npm', ['run', 'demo'], {
      // Port 0: the system picks a free port at bind time, so no other test can take it between a check and the bind.
      env: { ...env, BATON_CONSOLE_PORT: '0', BATON_CONFIG: configFile, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<string>((resolve) =>
      child!.once('exit', (code, signal) => resolve(signal ?? String(code))),
    );
    // A step that times out says where, with what the process printed, so a slow or stuck phase can be told apart.
    const awaitPhase = async (what: string, timeoutMs: number, check: () => Promise<boolean>) => {
      const started = Date.now();
      try {
        await eventually(async () => ((await check()) ? true : undefined), timeoutMs, what);
      } catch (error) {
        throw new Error(
          `${(error as Error).message} after ${Date.now() - started} ms; output:\n${output.slice(-6000)}`,
        );
      }
    };
    await awaitPhase('the banner', 90_000, async () => {
      if (child?.exitCode !== null || child.signalCode !== null)
        throw new Error('npm run demo exited before its banner');
      return output.includes('Baton is running');
    });
    const url = /open (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? 'no console URL in the banner';
    const redisPort = Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1]);
    expect(await portIsOpen(redisPort)).toBe(true);
    const info = (await (await fetch(`${url}/api/info`)).json()) as { modelLabel: string };
    expect(info.modelLabel).toBe('offline demo model');
    const health = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; workers: number };
    expect(health).toMatchObject({ ok: true, workers: 1 });

    const thread = await createConsoleThread(url, 'demo');
    await postConsoleMessage(url, thread, 'Compare two job queues');
    await awaitPhase('the demo reply', 60_000, async () =>
      (await botTexts(url, thread)).some((text) => text.startsWith('[demo model]')),
    );
    // Both planned children finish and their results are posted in the thread.
    await awaitPhase(
      'two results',
      60_000,
      async () => (await botTexts(url, thread)).filter((text) => text.includes('completed**')).length === 2,
    );
    // Stop the whole process group as a terminal's Ctrl-C would: npm passes the signal on, Baton shuts down
    // and stops its private redis-server.
    process.kill(-child.pid!, 'SIGINT');
    let exitedAs: string | undefined;
    void exited.then((how) => {
      exitedAs = how;
    });
    await awaitPhase('the exit after Ctrl-C', 60_000, async () => exitedAs !== undefined);
    expect(['0', 'SIGINT']).toContain(exitedAs);
    child = null;
    await eventually(async () => ((await portIsOpen(redisPort)) ? undefined : true), 10_000, 'redis to stop');
  });
});
