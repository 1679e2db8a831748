import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BatonConfig, WorkspaceSourceConfig } from '../../config/schema.ts';
import { BatonError } from '../../errors.ts';
import type { TaskWorkspaceChange } from '../../tasks/task-record.ts';
import { cutText } from '../../text/cut-text.ts';
import type { WorkspaceAccess } from '../tool.ts';
import { type OverlayCheckout, OverlayCheckouts } from './overlay-checkouts.ts';
import { overlayUnavailableReason } from './overlay-mount.ts';
import { type GitOptions, isRemoteLocation, runGit } from './run-git.ts';

/** What a task changed in its workspace, from its start to its last step. */
export type WorkspaceChange = TaskWorkspaceChange;

/** An open workspace of one task run: where its tools work, and the commit it stands on. */
export interface OpenWorkspace extends WorkspaceAccess {
  /** The configured workspace, or null for a scratch directory. */
  name: string | null;
  /** The commit the checkout stands on (after the last step that changed files); null for scratch. */
  commit: string | null;
  /** The checkout's own git directory (index, HEAD) in the store; absent for scratch. */
  gitDirectory?: string;
  /** Set when the checkout is an overlay on a shared base checkout (else it is a git worktree of its own). */
  overlay?: OverlayCheckout;
  /** The tree of `commit`, once known. */
  tree?: string;
}

/** How checkouts are made: overlays on a shared checkout per commit, or a full git worktree per task. */
export type CheckoutKind = 'overlay' | 'worktree';

export type MergeOutcome =
  | { kind: 'merged'; commit: string; ref: string }
  | { kind: 'conflict'; paths: string[] }
  | { kind: 'nothing'; reason: string };

const taskRef = (taskId: string) => `refs/baton/tasks/${taskId}`;
const baseRef = (taskId: string) => `refs/baton/bases/${taskId}`;
export const taskBranch = (taskId: string) => `baton/${taskId}`;

/**
 * The workspaces of tasks: checkouts of the configured repositories that share one object store, durable
 * through a commit per changed step under `refs/baton/tasks/<id>` in the store. Any worker reaching the
 * store recreates a task's checkout from the commit its checkpoint names.
 */
export class WorkspaceStore {
  private readonly root: string;
  private readonly store: string;
  /** The repository on this machine holding objects and refs: the store itself, or a cache of a remote one. */
  private readonly local: string;
  private readonly remote: boolean;
  private ready: Promise<void> | null = null;
  private readonly checkoutSetting: BatonConfig['workspace']['checkout'];
  /** Decided when the store is first used (`auto` tries an overlay mount). */
  private overlays: OverlayCheckouts | null = null;
  private readonly warn: (message: string) => void;
  /** The store's shared state (fetched source refs, the worktree list) is changed by one operation at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly workspaces: BatonConfig['workspaces'],
    settings: Omit<BatonConfig['workspace'], 'checkout'> &
      Partial<Pick<BatonConfig['workspace'], 'checkout'>>,
    baseDirectory = process.cwd(),
    options: { warn?: (message: string) => void } = {},
  ) {
    this.checkoutSetting = settings.checkout ?? 'auto';
    this.warn = options.warn ?? (() => {});
    this.root = path.resolve(baseDirectory, settings.root);
    this.remote = isRemoteLocation(settings.store);
    this.store = this.remote ? settings.store : path.resolve(baseDirectory, settings.store);
    this.local = this.remote ? path.join(this.root, '.store-cache.git') : this.store;
  }

  private source(name: string): WorkspaceSourceConfig {
    const source = this.workspaces[name];
    if (!source)
      throw new BatonError('unknown_workspace', `workspace "${name}" is not configured`, { fault: 'user' });
    return source;
  }

  /** A source path relative to the process's directory reads as a path, a URL as itself. */
  private sourceLocation(name: string): string {
    const { source } = this.source(name);
    return isRemoteLocation(source) ? source : path.resolve(source);
  }

  private ensureStore(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.root, { recursive: true });
      if (!existsSync(path.join(this.local, 'HEAD'))) {
        await mkdir(this.local, { recursive: true });
        await runGit(['init', '-q', '--bare', this.local]);
        // Index v4 and the untracked cache: a smaller index per checkout and faster scans of large trees.
        await runGit(['-C', this.local, 'config', 'feature.manyFiles', 'true']);
      }
      await this.chooseCheckouts();
    })();
    // A failed start is tried again by the next use rather than remembered.
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  private async chooseCheckouts(): Promise<void> {
    if (this.checkoutSetting === 'worktree') return;
    const reason = await overlayUnavailableReason(this.root);
    if (reason === null) {
      this.overlays = new OverlayCheckouts(this.root, this.local);
      await this.overlays.removeOrphans();
      return;
    }
    const explanation =
      `overlay checkouts are not available under ${this.root} (${reason}); they need Linux overlayfs and ` +
      'the right to mount (root or CAP_SYS_ADMIN)';
    if (this.checkoutSetting === 'overlay') {
      throw new BatonError(
        'config_invalid',
        `workspace.checkout is overlay but ${explanation}; set workspace.checkout: worktree (or auto)`,
        { fault: 'user' },
      );
    }
    this.warn(
      `${explanation}: each task gets a full git worktree instead (every file written per task, slower to ` +
        'create and to commit)',
    );
  }

  /** How this store makes checkouts (known once it has been used: `auto` decides then). */
  async checkoutKind(): Promise<CheckoutKind> {
    await this.ensureStore();
    return this.overlays ? 'overlay' : 'worktree';
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private git(args: string[], options: number[] | GitOptions = {}) {
    return runGit(
      ['-C', this.local, ...args],
      Array.isArray(options) ? { allowedExitCodes: options } : options,
    );
  }

  /** The branch children of `name` start from: its configured ref, or the source's HEAD branch. */
  async branchOf(name: string): Promise<string> {
    const configured = this.source(name).ref;
    if (configured) return configured.replace(/^refs\/heads\//, '');
    const { stdout } = await runGit(['ls-remote', '--symref', this.sourceLocation(name), 'HEAD']);
    const match = /^ref: refs\/heads\/(\S+)\s+HEAD/m.exec(stdout);
    if (!match)
      throw new BatonError('workspace_failed', `cannot tell the HEAD branch of workspace "${name}"`);
    return match[1]!;
  }

  private async resolve(ref: string): Promise<string | null> {
    const { stdout, exitCode } = await this.git(['rev-parse', '--verify', '-q', `${ref}^{commit}`], [0, 1]);
    return exitCode === 0 ? stdout.trim() : null;
  }

  /** Fetches the task's refs from a remote store (a resume on another machine); nothing to do for a local one. */
  private async fetchTaskRefs(taskId: string): Promise<void> {
    if (!this.remote) return;
    await this.git(
      [
        'fetch',
        '-q',
        '--no-tags',
        this.store,
        `+${taskRef(taskId)}:${taskRef(taskId)}`,
        `+${baseRef(taskId)}:${baseRef(taskId)}`,
      ],
      [0, 128],
    );
  }

  private async pushTaskRefs(taskId: string): Promise<void> {
    if (!this.remote) return;
    await this.git([
      'push',
      '-q',
      '-f',
      this.store,
      `${taskRef(taskId)}:${taskRef(taskId)}`,
      `${baseRef(taskId)}:${baseRef(taskId)}`,
    ]);
  }

  /**
   * The task's checkout, as of `commit` (its checkpoint's) or, for a task that has none yet, of its base
   * (the source's branch when the task first started). `runKey` makes the directory this run's own, so a
   * run that stops late cannot remove the checkout of the run that took over. Without a workspace name,
   * a scratch directory of the task (kept on this machine only).
   */
  async open(
    taskId: string,
    name: string | null,
    commit: string | null,
    runKey: string,
  ): Promise<OpenWorkspace> {
    if (name === null) {
      // A scratch directory is this machine's only: no store to create, no git, no wait behind other tasks.
      const directory = path.join(this.root, `${taskId}.scratch`);
      await mkdir(directory, { recursive: true });
      return { name: null, directory, commit: null };
    }
    await this.ensureStore();
    return await this.exclusive(() => this.openExclusively(taskId, name, commit, runKey));
  }

  private async openExclusively(
    taskId: string,
    name: string,
    commit: string | null,
    runKey: string,
  ): Promise<OpenWorkspace> {
    await this.fetchTaskRefs(taskId);
    let target = commit;
    if (target && !(await this.resolve(target))) {
      throw new BatonError(
        'workspace_failed',
        `the task's workspace commit ${target} is missing from the store`,
      );
    }
    target ??= await this.resolve(baseRef(taskId));
    if (!target) {
      target = await this.startTaskRefs(taskId, name);
      await this.pushTaskRefs(taskId);
    } else {
      // The task ref follows the checkpoint: a step committed after the last checkpoint is done again.
      await this.git(['update-ref', taskRef(taskId), target]);
    }
    const directory = path.join(this.root, `${taskId}.${runKey}`);
    // Checkouts of earlier runs of the task on this machine (a worker that died) are stale: the commit
    // above is where the task stands.
    if (this.overlays) await this.overlays.removeRuns(taskId);
    for (const entry of await readdir(this.root)) {
      if (entry.startsWith(`${taskId}.`) && !entry.endsWith('.scratch')) {
        await rm(path.join(this.root, entry), { recursive: true, force: true });
      }
    }
    if (this.overlays) {
      // A shared checkout of the commit (made once per commit on this machine) under a layer of the task's own.
      const base = await this.overlays.base(target);
      const overlay = await this.overlays.open(path.basename(directory), base);
      return {
        name,
        directory,
        commit: target,
        gitDirectory: base.gitDirectory,
        overlay,
        tree: base.tree,
      };
    }
    await this.git(['worktree', 'prune']);
    await this.git(['worktree', 'add', '-q', '-f', '--detach', directory, target]);
    const { stdout: gitDirectory } = await runGit(['-C', directory, 'rev-parse', '--absolute-git-dir']);
    // The checkout's git metadata stays read-only in the sandbox (git inside can read, diff and show, not
    // write): a command that could rewrite it could point Baton's own git runs at a config of its choosing.
    return { name, directory, commit: target, gitDirectory: gitDirectory.trim() };
  }

  /**
   * Points the task's base and task refs at the tip of the source's branch, fetching it into the store
   * when the store lacks it. A local source is asked directly (one rev-parse) instead of through a fetch's
   * negotiation, and the ref update itself tells whether the store has the commit.
   */
  private async startTaskRefs(taskId: string, name: string): Promise<string> {
    const branch = await this.branchOf(name);
    const location = this.sourceLocation(name);
    const pointRefs = (commit: string, allowedExitCodes: number[]) =>
      this.git(['update-ref', '--stdin'], {
        input: `update ${baseRef(taskId)} ${commit}\nupdate ${taskRef(taskId)} ${commit}\n`,
        allowedExitCodes,
      });
    if (!isRemoteLocation(location)) {
      const { stdout, exitCode } = await runGit(
        [
          '--git-dir',
          localGitDirectory(location),
          'rev-parse',
          '--verify',
          '-q',
          `refs/heads/${branch}^{commit}`,
        ],
        { allowedExitCodes: [0, 1, 128] },
      );
      const tip = stdout.trim();
      // Refused (128) when the store does not have the commit yet.
      if (exitCode === 0 && (await pointRefs(tip, [0, 128])).exitCode === 0) return tip;
    }
    const sourceRef = `refs/baton/sources/${name}`;
    await this.git(['fetch', '-q', '--no-tags', location, `+refs/heads/${branch}:${sourceRef}`]);
    const tip = (await this.resolve(sourceRef))!;
    await pointRefs(tip, [0]);
    return tip;
  }

  /**
   * Commits what the step changed (everything .gitignore does not ignore) and moves the task's ref to it;
   * returns the commit the checkout now stands on (unchanged when the step changed no file).
   */
  async commitStep(taskId: string, workspace: OpenWorkspace, step: number): Promise<string | null> {
    if (workspace.name === null) return null;
    if (workspace.overlay) return await this.commitOverlayStep(taskId, workspace, step);
    // Explicit git and work directories: the `.git` file in the workspace is the child's to overwrite, and
    // must not decide which repository (and config) Baton's git uses here, outside the sandbox.
    const repository = ['--git-dir', workspace.gitDirectory!, '--work-tree', workspace.directory];
    const cwd = workspace.directory;
    await runGit([...repository, 'add', '-A'], { cwd });
    const { exitCode } = await runGit(
      [...repository, 'commit', '-q', '--no-verify', '-m', `${taskId} step ${step}`],
      { cwd, allowedExitCodes: [0, 1] },
    );
    if (exitCode === 1) return workspace.commit;
    const { stdout } = await runGit([...repository, 'rev-parse', 'HEAD'], { cwd });
    const commit = stdout.trim();
    await this.git(['update-ref', taskRef(taskId), commit]);
    await this.pushTaskRefs(taskId);
    workspace.commit = commit;
    return commit;
  }

  /** An overlay's step: its tree from the upper layer's change set, a commit only when the tree moved. */
  private async commitOverlayStep(
    taskId: string,
    workspace: OpenWorkspace,
    step: number,
  ): Promise<string | null> {
    const tree = await this.overlays!.tree(workspace.overlay!);
    if (tree === workspace.tree) return workspace.commit;
    const { stdout } = await this.git([
      'commit-tree',
      tree,
      '-p',
      workspace.commit!,
      '-m',
      `${taskId} step ${step}`,
    ]);
    const commit = stdout.trim();
    await this.git(['update-ref', taskRef(taskId), commit]);
    await this.pushTaskRefs(taskId);
    workspace.commit = commit;
    workspace.tree = tree;
    return commit;
  }

  /** Files changed and lines added and removed from the task's base to its last step. */
  async change(taskId: string): Promise<WorkspaceChange | null> {
    const span = await this.taskSpan(taskId);
    if (!span) return null;
    const { stdout } = await this.git(['diff', '--numstat', span.base, span.head]);
    let added = 0;
    let removed = 0;
    const lines = stdout.split('\n').filter(Boolean);
    for (const line of lines) {
      const [plus, minus] = line.split('\t');
      added += Number(plus) || 0;
      removed += Number(minus) || 0;
    }
    return { files: lines.length, added, removed };
  }

  /** The task's change as a unified diff, for the console; null for a task without a workspace. */
  async diff(taskId: string, maxChars = 400_000): Promise<string | null> {
    const span = await this.taskSpan(taskId);
    if (!span) return null;
    const { stdout } = await this.git(['diff', span.base, span.head]);
    return cutText(stdout, maxChars, { marker: '\n[… diff cut …]\n', trimEnd: false });
  }

  /** The task's base and last step commits (both resolved at once), or null for a task without a snapshot. */
  private async taskSpan(taskId: string): Promise<{ base: string; head: string } | null> {
    await this.ensureStore();
    await this.fetchTaskRefs(taskId);
    const [base, head] = await Promise.all([this.resolve(baseRef(taskId)), this.resolve(taskRef(taskId))]);
    return base && head ? { base, head } : null;
  }

  /** A completed task's change, pushed as branch baton/<id> to the source when its workspace says `merge: branch`. */
  async publish(taskId: string, name: string): Promise<WorkspaceChange | null> {
    const change = await this.change(taskId);
    if (!change) return null;
    if (this.source(name).merge === 'branch' && change.files > 0) {
      // A new branch of its own: the source's checked-out branch is never touched.
      await this.git([
        'push',
        '-q',
        '-f',
        this.sourceLocation(name),
        `${taskRef(taskId)}:refs/heads/${taskBranch(taskId)}`,
      ]);
      return { ...change, branch: taskBranch(taskId) };
    }
    return change;
  }

  /** Removes this run's checkout (the ref keeps its result); a scratch directory goes when `scratch` says so. */
  async close(workspace: OpenWorkspace): Promise<void> {
    if (workspace.name === null) {
      await rm(workspace.directory, { recursive: true, force: true });
      return;
    }
    if (workspace.overlay) {
      await this.overlays!.close(workspace.overlay);
      return;
    }
    await this.exclusive(() => this.git(['worktree', 'remove', '--force', workspace.directory], [0, 128]));
    await rm(workspace.directory, { recursive: true, force: true });
  }

  /**
   * Merges the task's change into the workspace's branch with git's three-way merge. A conflict changes
   * nothing and names the conflicting paths. A local source whose branch is checked out is fast-forwarded
   * in place (its work tree follows); any other is pushed to.
   */
  async merge(taskId: string, name: string): Promise<MergeOutcome> {
    await this.ensureStore();
    return await this.exclusive(() => this.mergeExclusively(taskId, name));
  }

  private async mergeExclusively(taskId: string, name: string): Promise<MergeOutcome> {
    const span = await this.taskSpan(taskId);
    if (!span) return { kind: 'nothing', reason: 'the task has no workspace snapshot' };
    const { base, head } = span;
    if (head === base) return { kind: 'nothing', reason: 'the task changed no file' };
    const branch = await this.branchOf(name);
    const location = this.sourceLocation(name);
    const target = `refs/baton/merge-targets/${name}`;
    await this.git(['fetch', '-q', '--no-tags', location, `+refs/heads/${branch}:${target}`]);
    const current = (await this.resolve(target))!;
    const { exitCode: isAncestor } = await this.git(['merge-base', '--is-ancestor', head, current], [0, 1]);
    if (isAncestor === 0) return { kind: 'nothing', reason: `already merged into ${branch}` };
    const merged = await this.git(
      ['merge-tree', '--write-tree', '--name-only', '--no-messages', current, head],
      [0, 1],
    );
    const [tree, ...rest] = merged.stdout.split('\n').filter(Boolean);
    if (merged.exitCode === 1) return { kind: 'conflict', paths: rest };
    const { stdout: commitOut } = await this.git([
      'commit-tree',
      tree!,
      '-p',
      current,
      '-p',
      head,
      '-m',
      `Merge task ${taskId} (${taskBranch(taskId)}) into ${branch}`,
    ]);
    const commit = commitOut.trim();
    await this.updateSourceBranch(location, branch, current, commit);
    return { kind: 'merged', commit, ref: branch };
  }

  private async updateSourceBranch(
    location: string,
    branch: string,
    expected: string,
    commit: string,
  ): Promise<void> {
    const local = !isRemoteLocation(location);
    if (local) {
      const { stdout: checkedOut, exitCode } = await runGit(['-C', location, 'symbolic-ref', '-q', 'HEAD'], {
        allowedExitCodes: [0, 1],
      });
      const { stdout: bare } = await runGit(['-C', location, 'rev-parse', '--is-bare-repository']);
      if (exitCode === 0 && checkedOut.trim() === `refs/heads/${branch}` && bare.trim() !== 'true') {
        // The branch is checked out: bring the commit in and fast-forward, so the work tree follows (git
        // refuses if local edits would be overwritten, and then nothing changed).
        await runGit(['-C', location, 'fetch', '-q', '--no-tags', this.local, commit]);
        await runGit(['-C', location, 'merge', '-q', '--ff-only', commit]);
        return;
      }
    }
    await this.git([
      'push',
      '-q',
      location,
      `${commit}:refs/heads/${branch}`,
      `--force-with-lease=refs/heads/${branch}:${expected}`,
    ]);
  }

  /**
   * Retention: deletes the refs of tasks whose records are gone (they follow redis.retention_days), and
   * checkouts left on this machine by runs that died; returns how many tasks' refs went.
   */
  async sweep(stillKept: (taskIds: string[]) => Promise<boolean[]>): Promise<number> {
    await this.ensureStore();
    return await this.exclusive(() => this.sweepExclusively(stillKept));
  }

  private async sweepExclusively(stillKept: (taskIds: string[]) => Promise<boolean[]>): Promise<number> {
    const { stdout } = await this.git(['for-each-ref', '--format=%(refname)', 'refs/baton/tasks/']);
    const taskIds = stdout
      .split('\n')
      .filter(Boolean)
      .map((ref) => ref.slice(taskRef('').length));
    const kept = taskIds.length > 0 ? await stillKept(taskIds) : [];
    const gone = taskIds.filter((_taskId, index) => !kept[index]);
    for (const taskId of gone) {
      await this.git(['update-ref', '-d', taskRef(taskId)]);
      await this.git(['update-ref', '-d', baseRef(taskId)], [0, 1]);
    }
    await this.git(['worktree', 'prune']);
    await this.overlays?.removeUnusedBases();
    return gone.length;
  }
}

/** The git directory of a local repository: itself when bare, else its `.git`. */
function localGitDirectory(location: string): string {
  const dotGit = path.join(location, '.git');
  return existsSync(dotGit) ? dotGit : location;
}
