import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { WorkspaceAccess } from '../tool.ts';
import { runGit } from '../workspace/run-git.ts';

/**
 * The files under `directory` (relative to the workspace's root), as paths relative to the root. In a
 * checkout, git lists them: tracked and untracked, without what .gitignore ignores and without what was
 * deleted since the index was written. Git is told its directories explicitly (`gitDirectory`, in the store):
 * the checkout's `.git` is the task's to rewrite and must not choose the repository (and config) Baton's git
 * reads. Without a git directory (a scratch directory), a walk of the tree.
 */
export async function listWorkspaceFiles(workspace: WorkspaceAccess, directory: string): Promise<string[]> {
  const root = workspace.directory;
  if (!workspace.gitDirectory) return await walk(root, directory);
  const relative = path.relative(root, directory) || '.';
  try {
    // runGit sets no hooks and no fsmonitor; -t tags each path: H tracked, ? untracked, R deleted.
    const { stdout } = await runGit(
      [
        '--git-dir',
        workspace.gitDirectory,
        '--work-tree',
        root,
        'ls-files',
        '-t',
        '--cached',
        '--others',
        '--deleted',
        '--exclude-standard',
        '-z',
        '--',
        relative,
      ],
      { cwd: root, env: { GIT_LITERAL_PATHSPECS: '1' } },
    );
    const present = new Set<string>();
    const deleted = new Set<string>();
    for (const entry of stdout.split('\0')) {
      if (entry.length < 3) continue;
      (entry[0] === 'R' ? deleted : present).add(entry.slice(2));
    }
    return [...present].filter((file) => !deleted.has(file)).sort();
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
