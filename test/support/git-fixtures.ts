import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Runs git in `cwd` and returns its trimmed output. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-C', cwd, ...args], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@localhost',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@localhost',
    },
  })
    .toString()
    .trim();
}

/** A fresh repository on branch `main` with `files`, committed; returns its path. */
export function makeSourceRepository(files: Record<string, string>): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-source-'));
  execFileSync('git', ['init', '-q', '-b', 'main', directory]);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(directory, name), content);
  git(directory, 'add', '-A');
  git(directory, 'commit', '-q', '-m', 'start');
  return directory;
}

/** Exit code of `bash script` in `cwd`. */
export function exitCodeOf(cwd: string, script: string): number {
  try {
    execFileSync('bash', [script], { cwd, stdio: 'ignore' });
    return 0;
  } catch (error) {
    return (error as { status?: number }).status ?? -1;
  }
}
