import { execFile } from 'node:child_process';
import { BatonError } from '../../errors.ts';

/** Baton's own identity on the commits it makes, and no hooks or prompts: git runs unattended here. */
const gitEnvironment = {
  GIT_AUTHOR_NAME: 'Baton',
  GIT_AUTHOR_EMAIL: 'baton@localhost',
  GIT_COMMITTER_NAME: 'Baton',
  GIT_COMMITTER_EMAIL: 'baton@localhost',
  GIT_TERMINAL_PROMPT: '0',
};

/** How one git run is made: its directory, the exits that are results, extra environment, its stdin. */
export interface GitOptions {
  cwd?: string;
  /** Exit codes that are results (default 0 only); any other is a `workspace_failed` error. */
  allowedExitCodes?: number[];
  /** Added to Baton's git environment (e.g. GIT_INDEX_FILE). */
  env?: Record<string, string>;
  /** Written to git's stdin (e.g. pathspecs for --pathspec-from-file=-). */
  input?: string;
}

export interface GitResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A lock file another git process holds (several workers share one store): worth a short wait and a retry. */
const lockContention = /\.lock'?: File exists|cannot lock ref|Unable to create '.*\.lock'/;

/**
 * Runs git; `allowedExitCodes` (default 0 only) are results, any other exit is a `workspace_failed` error.
 * A failure on a lock another git process holds is retried a few times first.
 */
export async function runGit(args: string[], options: GitOptions = {}): Promise<GitResult> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await runGitOnce(args, options);
    } catch (error) {
      if (attempt >= 6 || !(error instanceof BatonError) || !lockContention.test(error.message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
    }
  }
}

function runGitOnce(args: string[], options: GitOptions): Promise<GitResult> {
  const allowed = options.allowedExitCodes ?? [0];
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      // No hooks, no fsmonitor command: nothing a repository's config names is run by Baton's git.
      ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', ...args],
      {
        cwd: options.cwd,
        env: { ...process.env, ...gitEnvironment, ...options.env },
        maxBuffer: 256 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        if (!allowed.includes(exitCode)) {
          reject(
            new BatonError(
              'workspace_failed',
              `git ${args[0] === '-C' ? args[2] : args[0]} failed: ${stderr.trim() || error?.message}`,
            ),
          );
          return;
        }
        resolve({ stdout, stderr, exitCode });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Whether `location` names a remote repository (a URL or scp-like address) rather than a local path. */
export function isRemoteLocation(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^/\s]+@[^/\s]+:/.test(location);
}
