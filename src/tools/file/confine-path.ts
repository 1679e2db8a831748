import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { BatonError } from '../../errors.ts';

function refused(message: string): BatonError {
  return new BatonError('tool_failed', message, { fault: 'model' });
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * The absolute path of `requested` inside the workspace `root`, or a clear refusal: absolute paths, paths
 * that climb out with `..`, and paths that reach outside through a symlink (of the file or of any folder
 * on the way) are refused; so is the checkout's `.git`, which Baton manages. The file need not exist.
 */
export async function confinePath(root: string, requested: string): Promise<string> {
  if (path.isAbsolute(requested)) {
    throw refused(`"${requested}" is an absolute path: give a path relative to the workspace`);
  }
  const target = path.resolve(root, requested);
  if (!isInside(root, target)) throw refused(`"${requested}" resolves outside the workspace`);
  const relative = path.relative(root, target);
  if (relative.split(path.sep)[0] === '.git')
    throw refused('.git is managed by Baton; it cannot be read or written');
  const realRoot = await realpath(root);
  // The nearest part of the path that exists decides where it really leads (a symlink anywhere on the way).
  let existing = target;
  while (true) {
    try {
      const stats = await lstat(existing);
      if (stats.isSymbolicLink()) {
        let resolved: string;
        try {
          resolved = await realpath(existing);
        } catch {
          throw refused(`"${requested}" goes through a symlink whose target does not exist`);
        }
        if (!isInside(realRoot, resolved))
          throw refused(`"${requested}" leads outside the workspace through a symlink`);
      }
      break;
    } catch (error) {
      if (error instanceof BatonError) throw error;
      const parent = path.dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  const real = await realpath(existing);
  if (!isInside(realRoot, real))
    throw refused(`"${requested}" leads outside the workspace through a symlink`);
  return target;
}
