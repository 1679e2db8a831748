import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const fixture = path.resolve('test/support/process-guards-fixture.ts');

function runFixture(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('process guards', () => {
  it('log an unhandled rejection and keep serving', async () => {
    const { code, output } = await runFixture([]);
    expect(output).toContain('unhandled promise rejection; still serving');
    expect(output).toContain('nobody awaited this');
    expect(output).toContain('still serving');
    expect(code).toBe(0);
  }, 30_000);

  it('log an uncaught exception, stop as on SIGTERM, and exit with 1', async () => {
    const { code, output } = await runFixture(['--throw']);
    expect(output).toContain('still serving');
    expect(output).toContain('uncaught exception; stopping');
    expect(output).toContain('thrown from a timer');
    expect(output).toContain('stopped cleanly');
    expect(code).toBe(1);
  }, 30_000);
});
