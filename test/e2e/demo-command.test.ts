import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/net/free-port.ts';
import { eventually } from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';

let child: ChildProcess | null = null;

/** Whether something still accepts connections on the port. */
function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-demo-'));

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('starts with no API key and answers in the console, then stops cleanly', async () => {
    const port = await findFreePort();
    const configFile = path.join(directory, 'baton.yaml');
    // Only the data directory moves, so the test leaves nothing in the checkout.
    writeFileSync(configFile, `redis:\n  local_data_dir: ${path.join(directory, 'redis')}\n`);
    const { OPENAI_API_KEY: _key, OPENAI_BASE_URL: _url, REDIS_URL: _redis, ...env } = process.env;
    child = spawn('npm', ['run', 'demo'], {
      env: { ...env, BATON_CONSOLE_PORT: String(port), BATON_CONFIG: configFile, LOG_LEVEL: 'info' },
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
    await eventually(
      async () => (output.includes('Baton is running') ? true : undefined),
      60_000,
      'the banner',
    );
    const url = `http://127.0.0.1:${port}`;
    const redisPort = Number(/"url":"redis:\/\/127\.0\.0\.1:(\d+)"/.exec(output)?.[1]);
    expect(await portIsOpen(redisPort)).toBe(true);
    expect(output).toContain(`open ${url}`);
    const info = (await (await fetch(`${url}/api/info`)).json()) as { modelLabel: string };
    expect(info.modelLabel).toBe('offline demo model');
    const health = (await (await fetch(`${url}/healthz`)).json()) as { ok: boolean; workers: number };
    expect(health).toMatchObject({ ok: true, workers: 1 });

    const thread = await createConsoleThread(url, 'demo');
    await postConsoleMessage(url, thread, 'Compare two job queues');
    await eventually(
      async () =>
        (await botTexts(url, thread)).some((text) => text.startsWith('[demo model]')) ? true : undefined,
      30_000,
      'the demo reply',
    );
    // Both planned children finish and their results are posted in the thread.
    await eventually(
      async () =>
        (await botTexts(url, thread)).filter((text) => text.includes('completed**')).length === 2
          ? true
          : undefined,
      60_000,
      'two results',
    );
    // Stop the whole process group as a terminal's Ctrl-C would: npm passes the signal on, Baton shuts down
    // and stops its private redis-server.
    process.kill(-child.pid!, 'SIGINT');
    expect(['0', 'SIGINT']).toContain(await exited);
    child = null;
    await eventually(async () => ((await portIsOpen(redisPort)) ? undefined : true), 10_000, 'redis to stop');
  });
});
