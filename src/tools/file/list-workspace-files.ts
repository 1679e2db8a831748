import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { runGit } from '../workspace/run-git.ts';

/**
 * The files under `directory` (relative to `root`), as paths relative to `root`. In a git checkout, git
 * lists them: tracked and untracked, without what .gitignore ignores. Elsewhere (a scratch directory), a
 * walk of the tree: git is not even started there, for it would find the repository the scratch root sits
 * in (the default `.baton/worktrees` lies inside the project Baton runs from) and list nothing its
 * .gitignore leaves out, `.baton/` with it.
 */
export async function listWorkspaceFiles(root: string, directory: string): Promise<string[]> {
  if (!existsSync(path.join(root, '.git'))) return await walk(root, directory);
  const relative = path.relative(root, directory) || '.';
  try {
    // runGit sets no hooks and no fsmonitor: the workspace's `.git` is the child's to rewrite.
    const { stdout } = await runGit([
      '-C',
      root,
      'ls-files',
      '--cached',
      '--others',
      '--exclude-standard',
      '-z',
      '--',
      relative,
    ]);
    return [...new Set(stdout.split('\0').filter(Boolean))].sort();
  } catch {
    return await walk(root, directory);
  }
}

async function walk(root: string, directory: string): Promise<string[]> {
  const files: string[] = [];
  const pending = [directory];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.name === '.git') continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else files.push(path.relative(root, full));
    }
  }
  return files.sort();
}

/** A glob (`*` within a name, `**` across folders, `?` one character) as a regular expression. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index += 1) {
    const character = glob[index]!;
    if (character === '*' && glob[index + 1] === '*') {
      source += glob[index + 2] === '/' ? '(?:.*/)?' : '.*';
      index += glob[index + 2] === '/' ? 2 : 1;
    } else if (character === '*') source += '[^/]*';
    else if (character === '?') source += '[^/]';
    else source += character.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Whether a relative path matches a glob: the whole path, or (for a glob without `/`) its file name. */
export function matchesGlob(file: string, glob: string): boolean {
  const pattern = globToRegExp(glob);
  return pattern.test(file) || (!glob.includes('/') && pattern.test(path.basename(file)));
}
