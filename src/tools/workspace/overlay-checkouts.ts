import { randomUUID } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import {
  access,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { BatonError } from '../../errors.ts';
import { isProcessAlive } from '../../process-alive.ts';
import { mountOverlay, overlaysUnder, unmount } from './overlay-mount.ts';
import { runGit } from './run-git.ts';

/** A read-only checkout of one commit that the overlays of every task standing on that commit share. */
export interface BaseCheckout {
  directory: string;
  /** Its worktree admin folder in the store (HEAD and the index with the files' stat data). */
  gitDirectory: string;
  tree: string;
}

/** The files of one task run's overlay checkout. */
export interface OverlayCheckout {
  /** Where the task's tools see the files: the overlay of `upper` on the base checkout. */
  merged: string;
  /** This run's own layers: `upper` holds exactly what the task changed, `work` is overlay's scratch. */
  layers: string;
  upper: string;
  base: BaseCheckout;
}

/** How long an unused base checkout is kept for the next task on the same commit, in ms. */
const baseKeepMs = 60 * 60 * 1000;

/**
 * Task checkouts as overlays: one checkout per commit on this machine (`<root>/.bases/<commit>`, created once,
 * never written again) under a per-run upper layer (`<root>/.layers/<task>.<run>/upper`) that receives every
 * write, mounted at `<root>/<task>.<run>`. Creating one writes no file of the tree, and a task's disk is
 * what it changed. The step commit reads the change set from the upper layer instead of scanning the tree.
 */
export class OverlayCheckouts {
  private readonly bases: string;
  private readonly layers: string;
  /** Trees of base checkouts this process made or met, by commit. */
  private readonly trees = new Map<string, string>();

  constructor(
    private readonly root: string,
    /** The repository on this machine holding the objects (the store, or its local cache). */
    private readonly local: string,
  ) {
    this.bases = path.join(root, '.bases');
    this.layers = path.join(root, '.layers');
  }

  /** The shared checkout of `commit`, made now when this machine has none. */
  async base(commit: string): Promise<BaseCheckout> {
    const link = path.join(this.bases, commit);
    const existing = await this.readBase(link, commit);
    if (existing) return existing;
    await mkdir(this.bases, { recursive: true });
    const directory = path.join(this.bases, `${commit}-${randomUUID().slice(0, 8)}`);
    await runGit(['-C', this.local, 'worktree', 'add', '-q', '-f', '--detach', directory, commit]);
    const gitDirectory = await adminDirectoryOf(directory);
    // The index is written again once the clock has passed the second of the last file written: git
    // trusts stat data only for entries older than their index (second resolution), and a copy of this
    // index with every entry trusted makes a step commit look at the paths it names only. An overlay keeps
    // a file's inode number through copy-up, so a same-size edit is told apart by its mtime alone.
    await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
    await runGit(['--git-dir', gitDirectory, '--work-tree', directory, 'update-index', '-q', '--refresh'], {
      allowedExitCodes: [0, 1],
    });
    // write-tree stores the cache tree in the base's index: a step's tree then only hashes the folders it changed.
    const { stdout } = await runGit(['--git-dir', gitDirectory, 'write-tree']);
    this.trees.set(commit, stdout.trim());
    try {
      // Published whole or not at all: another worker on this machine may be making the same one.
      await symlink(path.basename(directory), link);
    } catch {
      await runGit(['-C', this.local, 'worktree', 'remove', '--force', directory], {
        allowedExitCodes: [0, 128],
      });
      await rm(directory, { recursive: true, force: true });
      const other = await this.readBase(link, commit);
      if (other) return other;
      throw new BatonError('workspace_failed', `the checkout of ${commit} could not be prepared`);
    }
    return { directory, gitDirectory, tree: stdout.trim() };
  }

  private async readBase(link: string, commit: string): Promise<BaseCheckout | null> {
    let target: string;
    try {
      target = await readlink(link);
    } catch {
      return null;
    }
    const directory = path.join(this.bases, target);
    let gitDirectory: string;
    try {
      gitDirectory = await adminDirectoryOf(directory);
    } catch {
      // Removed from under the link (by hand): made again.
      await rm(link, { force: true });
      return null;
    }
    let tree = this.trees.get(commit);
    if (!tree) {
      tree = (await runGit(['--git-dir', gitDirectory, 'rev-parse', `${commit}^{tree}`])).stdout.trim();
      this.trees.set(commit, tree);
    }
    // Its age tells the sweep it is in use.
    await utimes(directory, new Date(), new Date()).catch(() => undefined);
    return { directory, gitDirectory, tree };
  }

  /** Mounts a new checkout of `base` at `<root>/<name>`, with empty layers of its own. */
  async open(name: string, base: BaseCheckout): Promise<OverlayCheckout> {
    const layers = path.join(this.layers, name);
    const checkout = { merged: path.join(this.root, name), layers, upper: path.join(layers, 'upper'), base };
    await mkdir(layers, { recursive: true });
    // Who holds the mount: a process that died holding it leaves it to `removeOrphans`.
    await writeFile(path.join(layers, 'owner'), String(process.pid));
    await mountOverlay({
      lower: base.directory,
      upper: checkout.upper,
      work: path.join(layers, 'work'),
      merged: checkout.merged,
    });
    return checkout;
  }

  /** Unmounts the checkout and deletes its layers. */
  async close(checkout: OverlayCheckout): Promise<void> {
    await unmount(checkout.merged).catch(() => unmount(checkout.merged, true));
    await rm(checkout.merged, { recursive: true, force: true });
    await rm(checkout.layers, { recursive: true, force: true });
  }

  /** Unmounts the checkouts of earlier runs of a task on this machine (a worker that died left them mounted). */
  async removeRuns(taskId: string): Promise<void> {
    for (const mount of await overlaysUnder(this.root)) {
      if (path.basename(mount.merged).startsWith(`${taskId}.`)) await unmount(mount.merged, true);
    }
    for (const entry of await readdir(this.layers).catch(() => [] as string[])) {
      if (entry.startsWith(`${taskId}.`))
        await rm(path.join(this.layers, entry), { recursive: true, force: true });
    }
  }

  /**
   * Unmounts and deletes checkouts whose process is gone (a worker killed on this machine, whose task may
   * have gone on elsewhere): called once when a process starts using the root. Other live processes'
   * checkouts under the same root are left alone.
   */
  async removeOrphans(): Promise<void> {
    for (const mount of await overlaysUnder(this.root)) {
      const name = path.basename(mount.merged);
      const owner = Number(await readFile(path.join(this.layers, name, 'owner'), 'utf8').catch(() => ''));
      if (owner > 0 && isProcessAlive(owner)) continue;
      // Never a recursive delete through a mount that stayed (it would go through the overlay).
      if (
        !(await unmount(mount.merged, true).then(
          () => true,
          () => false,
        ))
      )
        continue;
      await rm(mount.merged, { recursive: true, force: true });
      await rm(path.join(this.layers, name), { recursive: true, force: true });
    }
  }

  /** Removes base checkouts no overlay reads and no task opened for an hour. */
  async removeUnusedBases(): Promise<void> {
    const inUse = new Set((await overlaysUnder(this.root)).map((mount) => mount.lower));
    let entries: string[];
    try {
      entries = await readdir(this.bases);
    } catch {
      return;
    }
    for (const entry of entries) {
      const link = path.join(this.bases, entry);
      const stats = await lstat(link).catch(() => null);
      if (!stats?.isSymbolicLink()) continue;
      const directory = path.join(this.bases, await readlink(link));
      const age = Date.now() - ((await stat(directory).catch(() => null))?.mtimeMs ?? 0);
      if (inUse.has(directory) || age < baseKeepMs) continue;
      await rm(link, { force: true });
      await runGit(['-C', this.local, 'worktree', 'remove', '--force', directory], {
        allowedExitCodes: [0, 128],
      });
      await rm(directory, { recursive: true, force: true });
    }
  }

  /**
   * The tree of the checkout as it is now: the base's tree with what the upper layer holds. Only the paths
   * the layer names are looked at (git add -A on them, with .gitignore and attributes applied as git does),
   * in a copy of the base's index, so a step costs what it changed, not the size of the tree.
   */
  async tree(checkout: OverlayCheckout): Promise<string> {
    const paths = await changedPaths(checkout.upper, checkout.base.directory, checkout.merged);
    if (paths.length === 0) return checkout.base.tree;
    const index = path.join(
      (await scratchIndexDirectory()) ?? checkout.layers,
      `baton-index-${process.pid}-${randomUUID().slice(0, 8)}`,
    );
    const original = path.join(checkout.base.gitDirectory, 'index');
    const { atime, mtime } = await stat(original);
    await copyFile(original, index);
    // The copy keeps the original's date, which git compares entries' dates with (see `base`).
    await utimes(index, atime, mtime);
    try {
      const env = { GIT_INDEX_FILE: index, GIT_LITERAL_PATHSPECS: '1' };
      // Explicit git and work directories: the `.git` in the checkout is the child's to rewrite.
      const added = await runGit(
        [
          '-c',
          'advice.addIgnoredFile=false',
          '--git-dir',
          this.local,
          '--work-tree',
          checkout.merged,
          'add',
          '-A',
          '--pathspec-from-file=-',
          '--pathspec-file-nul',
        ],
        { env, input: paths.join('\0'), allowedExitCodes: [0, 1] },
      );
      // Exit 1 names paths .gitignore ignores (left out, as `git add -A` leaves them); anything else is a failure.
      if (added.exitCode === 1 && !/ignored by one of your \.gitignore files/.test(added.stderr)) {
        throw new BatonError('workspace_failed', `git add failed: ${added.stderr.trim()}`);
      }
      const { stdout } = await runGit(['--git-dir', this.local, 'write-tree'], { env });
      return stdout.trim();
    } finally {
      await rm(index, { force: true });
    }
  }
}

let memoryDirectory: Promise<string | null> | undefined;

/**
 * Where the step's throwaway index goes: /dev/shm (memory) where it is writable, as git writes the whole
 * index twice per step and that index is never needed again; else null (the checkout's layers folder).
 */
function scratchIndexDirectory(): Promise<string | null> {
  memoryDirectory ??= access('/dev/shm', constants.W_OK).then(
    () => '/dev/shm',
    () => null,
  );
  return memoryDirectory;
}

/** The worktree admin folder a checkout's `.git` file names (written by git worktree add; Baton's, read-only to tasks). */
async function adminDirectoryOf(directory: string): Promise<string> {
  const text = await readFile(path.join(directory, '.git'), 'utf8');
  const match = /^gitdir: (.+)$/m.exec(text);
  if (!match) throw new BatonError('workspace_failed', `${directory} is not a git worktree`);
  return path.resolve(directory, match[1]!.trim());
}

const entriesOf = (directory: string): Promise<Dirent[]> =>
  readdir(directory, { withFileTypes: true }).catch(() => [] as Dirent[]);

/**
 * The paths, relative to the checkout, that may differ from the base: every file, symlink and whiteout in
 * the upper layer, every folder that is new there (git walks it), and every base entry the checkout no
 * longer shows (a deleted file or folder, a folder replaced by an opaque one). The top-level `.git` is
 * never one: it is Baton's.
 */
export async function changedPaths(upper: string, lower: string, merged: string): Promise<string[]> {
  const found = new Set<string>();
  const visit = async (relative: string): Promise<void> => {
    const [upperEntries, lowerEntries, mergedEntries] = await Promise.all([
      entriesOf(path.join(upper, relative)),
      entriesOf(path.join(lower, relative)),
      entriesOf(path.join(merged, relative)),
    ]);
    const skip = (name: string) => relative === '' && name === '.git';
    const shown = new Set(mergedEntries.map((entry) => entry.name));
    const lowerByName = new Map(lowerEntries.map((entry) => [entry.name, entry]));
    for (const entry of lowerEntries) {
      if (!skip(entry.name) && !shown.has(entry.name)) found.add(path.join(relative, entry.name));
    }
    const folders: Promise<void>[] = [];
    for (const entry of upperEntries) {
      if (skip(entry.name)) continue;
      const child = path.join(relative, entry.name);
      if (entry.isDirectory() && lowerByName.get(entry.name)?.isDirectory()) folders.push(visit(child));
      else found.add(child);
    }
    await Promise.all(folders);
  };
  await visit('');
  return [...found].sort();
}
