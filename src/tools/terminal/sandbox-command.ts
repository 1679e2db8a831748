import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { TerminalConfig } from '../../config/schema.ts';
import { BatonError } from '../../errors.ts';

/** Where bubblewrap is looked for, in order: Debian's path, then PATH. */
export function findBubblewrap(env: NodeJS.ProcessEnv = process.env): string | null {
  const directories = ['/usr/bin', ...(env.PATH ?? '').split(':').filter(Boolean)];
  for (const directory of directories) {
    const candidate = path.join(directory, 'bwrap');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

/** Start-up check: a configured sandbox that cannot run stops the process, naming the fix; `none` is warned about. */
export function checkSandboxAvailable(
  config: TerminalConfig,
  warn: (message: string) => void,
  find: () => string | null = findBubblewrap,
): string | null {
  if (config.sandbox === 'none') {
    warn(
      "tools.terminal.sandbox is none: terminal commands run on the host unsandboxed, with this process's " +
        'file system and network access',
    );
    return null;
  }
  const bwrap = find();
  if (!bwrap) {
    throw new BatonError(
      'config_invalid',
      'tools.terminal.sandbox is bubblewrap but bwrap is not installed: install it with ' +
        '`apt-get install -y bubblewrap` (or set tools.terminal.sandbox: none to run commands unsandboxed)',
      { fault: 'user' },
    );
  }
  return bwrap;
}

/** The environment a command sees: an allow-list, so none of Baton's secrets (model keys, tokens) leak in. */
export function commandEnvironment(
  config: TerminalConfig,
  home: string,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const result: Record<string, string> = {
    PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: env.LANG ?? 'C.UTF-8',
  };
  for (const name of config.env) {
    const value = env[name];
    if (value !== undefined) result[name] = value;
  }
  return result;
}

/** The command itself, run by a login shell. */
export function commandShellArguments(command: string): string[] {
  return ['/bin/bash', '-lc', command];
}

/**
 * The launcher in front of `argv` (bubblewrap, or the command's shell when unsandboxed): a shell of
 * builtins only that first enters the pids cgroup (when there is one: before anything forks), then applies
 * the per-process limits, then becomes `argv`, so the limits bind the sandbox and everything in it. One
 * launcher for both jobs keeps a process start off every command. `ulimit -u` only binds non-root users;
 * the pids cgroup binds everyone. A cgroup that cannot be entered runs nothing.
 */
export function launcherArguments(
  config: TerminalConfig,
  procsFile: string | null,
  argv: string[],
): string[] {
  const limits = [
    `ulimit -t ${config.cpu_s}`,
    `ulimit -v ${config.memory_mb * 1024}`,
    `ulimit -f ${config.max_file_size_mb * 1024}`,
    `ulimit -u ${config.max_processes} 2>/dev/null`,
  ].join('; ');
  const enter = 'if [ "$0" != - ]; then echo $$ > "$0" || exit 125; fi';
  return ['/bin/bash', '-c', `${enter}; ${limits}; exec "$@"`, procsFile ?? '-', ...argv];
}

/**
 * bubblewrap's arguments for a command in `workspace`: the host read-only, the workspace read-write (its
 * git metadata, in the store, stays read-only), a private /tmp, new PID, IPC and UTS namespaces (and
 * network, unless allowed), no capabilities, and the sandbox dies with its parent.
 */
export function bubblewrapArguments(
  config: TerminalConfig,
  workspace: string,
  gitDirectory?: string,
): string[] {
  // The store holding the checkout's git directory is seen read-only through the host's root, unless the
  // private /tmp hides it: then it is bound back, read-only, so git works in the command.
  const store = gitDirectory ? storeOf(gitDirectory) : null;
  const hiddenStore = store && isInside('/tmp', store) ? ['--ro-bind', store, store] : [];
  return [
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    ...hiddenStore,
    '--bind',
    workspace,
    workspace,
    '--chdir',
    workspace,
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    ...(config.network ? [] : ['--unshare-net']),
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    '--new-session',
    '--',
  ];
}

/** The repository a git directory belongs to: a worktree's admin folder (`<store>/worktrees/<name>`) names it. */
function storeOf(gitDirectory: string): string {
  const parent = path.dirname(gitDirectory);
  return path.basename(parent) === 'worktrees' ? path.dirname(parent) : gitDirectory;
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
