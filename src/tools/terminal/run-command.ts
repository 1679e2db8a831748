import { type ChildProcess, spawn } from 'node:child_process';
import type { TerminalConfig } from '../../config/schema.ts';
import { OutputCapture } from './output-capture.ts';
import { ProcessCgroup } from './process-cgroup.ts';
import {
  bubblewrapArguments,
  commandEnvironment,
  commandShellArguments,
  launcherArguments,
} from './sandbox-command.ts';

export interface CommandRequest {
  command: string;
  /** The workspace: the command's working directory and its only writable place (besides /tmp). */
  workspace: string;
  /** The checkout's git directory in the store (read-only to the command), so git works inside. */
  gitDirectory?: string;
  timeoutMs: number;
  /** Aborting it kills the command's whole process tree. */
  signal: AbortSignal;
}

export interface CommandResult {
  exit_code: number | null;
  /** Set when the command was killed: `timeout`, `cancelled`, or the signal that ended it. */
  killed?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  duration_s: number;
}

/** How long the killed tree may take to go away before the call returns anyway, in ms. */
const killWaitMs = 800;

/**
 * Runs one command as `bash -lc command` in the workspace, under bubblewrap unless the sandbox is off
 * (`bwrap` null), with the configured limits. When it returns, nothing it started is left running: the
 * sandbox's PID namespace dies with its first process, and the process group and the pids cgroup are
 * killed besides (for `sandbox: none`, and for anything that escaped the group).
 */
export async function runCommand(
  config: TerminalConfig,
  bwrap: string | null,
  request: CommandRequest,
): Promise<CommandResult> {
  const started = performance.now();
  const cgroup = ProcessCgroup.acquire(config.max_processes);
  const shell = commandShellArguments(request.command);
  const home = bwrap ? '/tmp' : request.workspace;
  const argv = launcherArguments(
    config,
    cgroup?.procsFile ?? null,
    bwrap
      ? [bwrap, ...bubblewrapArguments(config, request.workspace, request.gitDirectory), ...shell]
      : shell,
  );
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: request.workspace,
    env: commandEnvironment(config, home),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keepBytes = config.max_output_chars;
  const stdout = new OutputCapture(keepBytes);
  const stderr = new OutputCapture(keepBytes);
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));

  let killed: string | undefined;
  const killTree = (reason: string) => {
    killed ??= reason;
    killProcessTree(child, cgroup);
  };
  const timer = setTimeout(() => killTree('timeout'), request.timeoutMs);
  const onAbort = () => killTree('cancelled');
  if (request.signal.aborted) onAbort();
  else request.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await waitForExit(child);
    // Whatever the command left in the background goes with it.
    killProcessTree(child, cgroup);
    await waitForStreams(child, killWaitMs);
    const budget = config.max_output_chars;
    const out = stdout.text(budget);
    const err = stderr.text(Math.max(0, budget - out.text.length));
    return {
      exit_code: exit.code,
      ...(killed ? { killed } : exit.signal ? { killed: exit.signal } : {}),
      stdout: out.text,
      stderr: err.text,
      truncated: out.truncated || err.truncated,
      duration_s: Math.round(performance.now() - started) / 1000,
    };
  } finally {
    clearTimeout(timer);
    request.signal.removeEventListener('abort', onAbort);
    await cgroup?.release();
  }
}

function killProcessTree(child: ChildProcess, cgroup: ProcessCgroup | null): void {
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  }
  cgroup?.killAll();
}

function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Waits for the output pipes to drain, at most `limitMs` (a process outside the group may hold them). */
function waitForStreams(child: ChildProcess, limitMs: number): Promise<void> {
  const closed = (stream: NodeJS.ReadableStream | null) =>
    new Promise<void>((resolve) => {
      if (!stream || (stream as { closed?: boolean }).closed) resolve();
      else stream.once('close', () => resolve());
    });
  return Promise.race([
    Promise.all([closed(child.stdout), closed(child.stderr)]).then(() => undefined),
    new Promise<void>((resolve) => setTimeout(resolve, limitMs).unref()),
  ]);
}
