import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batonConfigSchema, type TerminalConfig } from '../../src/config/schema.ts';
import { type CommandResult, runCommand } from '../../src/tools/terminal/run-command.ts';
import { findBubblewrap } from '../../src/tools/terminal/sandbox-command.ts';

/**
 * Issue 10, sandbox: real commands under the real bubblewrap. What a command must not do (write outside its
 * workspace, reach a listener on 127.0.0.1, see Baton's secrets, exhaust processes, memory or the caller's
 * memory with output) it cannot, and a cancel kills its whole tree within a second.
 */
const bwrap = findBubblewrap();
const defaults = batonConfigSchema.parse({}).tools.terminal;
let workspace: string;
let outside: string;

function run(
  command: string,
  overrides: Partial<TerminalConfig> = {},
  signal = new AbortController().signal,
) {
  return runCommand({ ...defaults, ...overrides }, bwrap, { command, workspace, timeoutMs: 30_000, signal });
}

beforeAll(() => {
  workspace = mkdtempSync(path.join(os.tmpdir(), 'baton-ws-'));
  outside = mkdtempSync(path.join(os.tmpdir(), 'baton-outside-'));
});
afterAll(() => {
  rmSync(workspace, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('a command under bubblewrap', () => {
  it('is found installed (the tests below need the real sandbox)', () => {
    expect(bwrap).not.toBeNull();
  });

  it('writes its workspace but nothing outside it, and its /tmp is private', async () => {
    const result = await run(
      `echo inside > note.txt && cat note.txt; echo x > ${outside}/escape.txt; echo $?; echo y > /etc/baton-escape; echo $?; echo t > /tmp/mine; ls /tmp`,
    );
    expect(result.stdout.split('\n').slice(0, 3)).toEqual(['inside', '1', '1']);
    expect(result.stdout).toContain('mine');
    expect(result.stderr).toMatch(/Read-only file system/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(outside, 'escape.txt'))).toBe(false);
    expect(existsSync('/tmp/mine')).toBe(false);
    expect(existsSync(path.join(workspace, 'note.txt'))).toBe(true);
  });

  it('cannot reach a listener on 127.0.0.1 with the network off, and can with it on', async () => {
    const server = net.createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const probe = `exec 3<>/dev/tcp/127.0.0.1/${port} && head -1 <&3 || echo unreachable`;
    try {
      const off = await run(probe);
      expect(off.stdout.trim()).toBe('unreachable');
      const on = await run(probe, { network: true });
      expect(on.stdout.trim()).toBe('hello');
    } finally {
      server.close();
    }
  });

  it("sees none of Baton's secrets in its environment, only the allow-list", async () => {
    process.env.OPENAI_API_KEY = 'sk-secret-model-key-1234567890';
    process.env.SLACK_BOT_TOKEN = 'xoxb-secret-slack-token';
    process.env.BATON_TEST_ALLOWED = 'visible';
    try {
      const result = await run('env', { env: ['BATON_TEST_ALLOWED'] });
      expect(result.stdout).not.toContain('sk-secret');
      expect(result.stdout).not.toContain('xoxb-');
      expect(result.stdout).toContain('BATON_TEST_ALLOWED=visible');
      const names = result.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('=')[0]);
      // bash itself adds a few (PWD, SHLVL, _, OLDPWD); nothing else of the parent's environment comes in.
      expect(names.filter((name) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(name!)).sort()).toEqual(
        ['BATON_TEST_ALLOWED', 'HOME', 'LANG', 'PATH'].sort(),
      );
    } finally {
      delete process.env.OPENAI_API_KEY;
      delete process.env.SLACK_BOT_TOKEN;
      delete process.env.BATON_TEST_ALLOWED;
    }
  });

  it('stops a fork bomb at the process limit, and leaves nothing running', async () => {
    const started = Date.now();
    const result = await runCommand({ ...defaults, max_processes: 64 }, bwrap, {
      command: 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived',
      workspace,
      timeoutMs: 8_000,
      signal: new AbortController().signal,
    });
    expect(result.stderr).toMatch(/fork|Resource temporarily unavailable/);
    expect(Date.now() - started).toBeLessThan(20_000);
    const leftover = await run('echo still-usable');
    expect(leftover.stdout.trim()).toBe('still-usable');
  });

  it('stops a 1 GB allocation at the memory limit', async () => {
    const result = await run('perl -e \'$x = "a" x (1 << 30); print length $x\'; echo " exit $?"', {
      memory_mb: 256,
    });
    expect(result.stdout).not.toContain('1073741824');
    expect(result.stderr).toMatch(/Out of memory/);
    const allowed = await run('perl -e \'$x = "a" x (1 << 20); print length $x\'', { memory_mb: 256 });
    expect(allowed.stdout).toBe('1048576');
  });

  it('cuts 50 MB of output to the cap, keeping the head and the tail', async () => {
    const result = await run(
      "echo FIRST-LINE; head -c 50000000 /dev/zero | tr '\\0' 'a'; echo; echo LAST-LINE",
      { max_output_chars: 10_000 },
    );
    expect(result.truncated).toBe(true);
    expect(result.stdout.length).toBeLessThanOrEqual(10_000);
    expect(result.stdout.startsWith('FIRST-LINE')).toBe(true);
    expect(result.stdout.trimEnd().endsWith('LAST-LINE')).toBe(true);
    expect(result.exit_code).toBe(0);
  });

  it('kills the whole tree of `sleep 600` within a second of a cancel', async () => {
    const controller = new AbortController();
    const marker = `baton-sleep-${process.pid}`;
    const running = runCommand(defaults, bwrap, {
      command: `(sleep 600; echo ${marker}) & sleep 600`,
      workspace,
      timeoutMs: 700_000,
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const cancelledAt = Date.now();
    controller.abort();
    const result: CommandResult = await running;
    expect(Date.now() - cancelledAt).toBeLessThanOrEqual(1000);
    expect(result.killed).toBe('cancelled');
    const { execFileSync } = await import('node:child_process');
    const sleeps = execFileSync('ps', ['-eo', 'args']).toString().split('\n');
    expect(sleeps.filter((line) => line.includes(marker))).toEqual([]);
  });

  it('kills what a command leaves in the background when it returns', async () => {
    const marker = `baton-background-${process.pid}`;
    const started = Date.now();
    const result = await run(`(sleep 600; echo ${marker}) > /dev/null 2>&1 & echo started`);
    expect(result.stdout.trim()).toBe('started');
    expect(Date.now() - started).toBeLessThan(5000);
    const { execFileSync } = await import('node:child_process');
    const left = execFileSync('ps', ['-eo', 'args']).toString().split('\n');
    expect(left.filter((line) => line.includes(marker))).toEqual([]);
  });

  it('reports the exit code and the time it took', async () => {
    const result = await run('echo out; echo err >&2; exit 3');
    expect(result).toMatchObject({ exit_code: 3, stdout: 'out\n', stderr: 'err\n', truncated: false });
    expect(result.duration_s).toBeGreaterThanOrEqual(0);
  });
});

describe('choosing the sandbox', () => {
  it('fails start-up with the install command when bwrap is missing, never falling back', async () => {
    const { checkSandboxAvailable } = await import('../../src/tools/terminal/sandbox-command.ts');
    expect(() =>
      checkSandboxAvailable(
        defaults,
        () => {},
        () => null,
      ),
    ).toThrow(/apt-get install -y bubblewrap/);
  });

  it('runs bare only when `none` is chosen, with a warning', async () => {
    const { checkSandboxAvailable } = await import('../../src/tools/terminal/sandbox-command.ts');
    const warnings: string[] = [];
    expect(
      checkSandboxAvailable({ ...defaults, sandbox: 'none' }, (message) => warnings.push(message)),
    ).toBeNull();
    expect(warnings[0]).toMatch(/unsandboxed/);
    const result = await runCommand({ ...defaults, sandbox: 'none' }, null, {
      command: 'echo bare; (sleep 600 &) ; echo done',
      workspace,
      timeoutMs: 10_000,
      signal: new AbortController().signal,
    });
    expect(result.stdout).toBe('bare\ndone\n');
  });
});
