import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { batonConfigSchema } from '../src/config/schema.ts';
import { runCommand } from '../src/tools/terminal/run-command.ts';
import { findBubblewrap } from '../src/tools/terminal/sandbox-command.ts';
import {
  type CheckoutKind,
  type OpenWorkspace,
  WorkspaceStore,
} from '../src/tools/workspace/workspace-store.ts';
import { type BenchResult, describeLatency, figure, summarize } from './support.ts';

const fileCount = 10_000;
const createSamples = 30;
const commitSamples = 30;
const sandboxSamples = 200;

/** A repository of `fileCount` small files in 100 folders, committed on main. */
function generateRepository(directory: string): void {
  execFileSync('git', ['init', '-q', '-b', 'main', directory]);
  for (let folder = 0; folder < 100; folder += 1) {
    const folderPath = path.join(directory, `module-${folder}`);
    mkdirSync(folderPath);
    for (let file = 0; file < fileCount / 100; file += 1) {
      writeFileSync(
        path.join(folderPath, `file-${file}.ts`),
        `// module ${folder}, file ${file}\nexport const value${file} = ${folder * 1000 + file};\n`,
      );
    }
  }
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'b',
    GIT_AUTHOR_EMAIL: 'b@b',
    GIT_COMMITTER_NAME: 'b',
    GIT_COMMITTER_EMAIL: 'b@b',
  };
  execFileSync('git', ['-C', directory, 'add', '-A'], { env });
  execFileSync('git', ['-C', directory, 'commit', '-q', '-m', 'generated'], { env });
}

/** Bytes a directory takes on disk (allocated blocks, as du counts them). */
function diskBytes(target: string): number {
  return Number(execFileSync('du', ['-sk', target]).toString().split('\t')[0]) * 1024;
}

function plainSpawn(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

interface CheckoutFigures {
  create: ReturnType<typeof summarize>;
  commit: ReturnType<typeof summarize>;
  /** The first checkout of the commit on the machine (the shared base, for overlays), in ms. */
  firstMs: number;
  checkoutBytes: number;
  adminBytes: number;
  objectBytesPerChild: number;
  perChild: number;
  storeBytes: number;
}

/** One store making checkouts of `kind`, measured step by step so two kinds can be interleaved. */
class CheckoutBench {
  readonly store: WorkspaceStore;
  readonly createMs: number[] = [];
  readonly commitMs: number[] = [];
  readonly opened: OpenWorkspace[] = [];
  firstMs = 0;
  storeBytes = 0;
  private warm: OpenWorkspace | null = null;

  constructor(
    readonly kind: CheckoutKind,
    private readonly scratch: string,
    source: string,
  ) {
    this.store = new WorkspaceStore(
      { app: { source, ref: 'main', merge: 'none' } },
      {
        store: path.join(scratch, `${kind}-store.git`),
        root: path.join(scratch, `${kind}-worktrees`),
        checkout: kind,
      },
    );
  }

  /** The first open copies the source's objects into the store, and (overlay) makes the shared checkout. */
  async warmUp(): Promise<void> {
    const started = performance.now();
    this.warm = await this.store.open(`t_warm${this.kind.slice(0, 2)}`, 'app', null, 'bench');
    this.firstMs = performance.now() - started;
    this.storeBytes = diskBytes(path.join(this.scratch, `${this.kind}-store.git`));
  }

  async openOne(index: number): Promise<void> {
    const started = performance.now();
    this.opened.push(await this.store.open(taskIdOf(index), 'app', null, 'bench'));
    this.createMs.push(performance.now() - started);
  }

  async commitOne(index: number): Promise<void> {
    const workspace = this.opened[index]!;
    for (let file = 0; file < 10; file += 1) {
      writeFileSync(
        path.join(workspace.directory, `module-${file}`, 'file-0.ts'),
        `// changed in step ${index}\n`,
      );
    }
    const started = performance.now();
    await this.store.commitStep(taskIdOf(index), workspace, 1);
    this.commitMs.push(performance.now() - started);
  }

  figures(): CheckoutFigures {
    const storeAfter = diskBytes(path.join(this.scratch, `${this.kind}-store.git`));
    const sample = this.opened[0]!;
    // A child's own disk: an overlay's layers (its merged view is the shared base), or a worktree's every
    // file; plus, for a worktree, its admin folder (index, HEAD) in the store.
    const checkoutBytes = diskBytes(sample.overlay ? sample.overlay.layers : sample.directory);
    const adminBytes = sample.overlay ? 0 : diskBytes(sample.gitDirectory!);
    const objectBytesPerChild = Math.max(
      0,
      (storeAfter - this.storeBytes - adminBytes * this.opened.length) / this.opened.length,
    );
    return {
      create: summarize(this.createMs),
      commit: summarize(this.commitMs),
      firstMs: this.firstMs,
      checkoutBytes,
      adminBytes,
      objectBytesPerChild,
      perChild: checkoutBytes + adminBytes + objectBytesPerChild,
      storeBytes: this.storeBytes,
    };
  }

  async closeAll(): Promise<void> {
    for (const workspace of [this.warm!, ...this.opened]) await this.store.close(workspace);
  }
}

const taskIdOf = (index: number) => `t_bench${String(index).padStart(2, '0')}`;

/**
 * Workspaces and the sandbox: checkout creation and step commits in a generated 10,000-file repository,
 * the disk a child's checkout takes beyond the shared objects, and what bubblewrap adds to a command.
 * Overlay checkouts (the default where they can be mounted) and full worktrees are measured in the same
 * run, interleaved sample by sample, so the machine's load weighs on both alike.
 */
export async function benchWorkspaces(log: (line: string) => void): Promise<BenchResult[]> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-ws-'));
  try {
    const source = path.join(scratch, 'source');
    generateRepository(source);
    log(`generated ${fileCount} files in ${source}`);
    const overlay = new CheckoutBench('overlay', scratch, source);
    const worktree = new CheckoutBench('worktree', scratch, source);
    await overlay.warmUp();
    await worktree.warmUp();
    for (let index = 0; index < createSamples; index += 1) {
      await overlay.openOne(index);
      await worktree.openOne(index);
    }
    for (let index = 0; index < commitSamples; index += 1) {
      await overlay.commitOne(index);
      await worktree.commitOne(index);
    }
    const figures = overlay.figures();
    const before = worktree.figures();
    await overlay.closeAll();
    await worktree.closeAll();
    const { create, commit } = figures;
    log(
      `overlay workspace create: ${describeLatency(create)} (first, making the shared checkout: ${Math.round(figures.firstMs)} ms)`,
    );
    log(`worktree workspace create: ${describeLatency(before.create)}`);
    log(`overlay step commit: ${describeLatency(commit)}; worktree: ${describeLatency(before.commit)}`);
    log(
      `disk per child: overlay layers ${figures.checkoutBytes} B + new objects ≈ ${Math.round(figures.objectBytesPerChild)} B; ` +
        `worktree ${before.checkoutBytes} B + admin ${before.adminBytes} B`,
    );
    const storeBytes = figures.storeBytes;
    const checkoutBytes = figures.checkoutBytes;
    const adminBytes = figures.adminBytes;
    const objectBytesPerChild = figures.objectBytesPerChild;
    const perChild = figures.perChild;

    const config = batonConfigSchema.parse({}).tools.terminal;
    const bwrap = findBubblewrap();
    const workspaceDirectory = mkdtempSync(path.join(scratch, 'sandbox-'));
    const sandboxed: number[] = [];
    const bare: number[] = [];
    const raw: number[] = [];
    const signal = new AbortController().signal;
    const request = { command: 'true', workspace: workspaceDirectory, timeoutMs: 10_000, signal };
    for (let index = 0; index < 20; index += 1) {
      await runCommand(config, bwrap, request);
      await runCommand(config, null, request);
    }
    for (let index = 0; index < sandboxSamples; index += 1) {
      // Interleaved, so load on the machine weighs on both alike.
      let started = performance.now();
      await runCommand(config, bwrap, request);
      sandboxed.push(performance.now() - started);
      started = performance.now();
      await runCommand(config, null, request);
      bare.push(performance.now() - started);
      started = performance.now();
      await plainSpawn();
      raw.push(performance.now() - started);
    }
    const differences = sandboxed.map((value, index) => value - bare[index]!);
    const overhead = summarize(differences);
    const sandboxedSummary = summarize(sandboxed);
    const bareSummary = summarize(bare);
    const rawSummary = summarize(raw);
    log(
      `bwrap: ${describeLatency(sandboxedSummary)}; same command unsandboxed: ${describeLatency(bareSummary)}`,
    );
    const sandboxNotes =
      `\`true\` run by the terminal tool's runner (bash -lc, limits, pids cgroup) under bubblewrap minus the same ` +
      `runner with sandbox none, interleaved, ${sandboxSamples} pairs after 20 warm-up: per-pair difference ` +
      `${describeLatency(overhead)}. Under bubblewrap: ${describeLatency(sandboxedSummary)}; unsandboxed: ` +
      `${describeLatency(bareSummary)}; a bare spawn of /bin/true: ${describeLatency(rawSummary)}`;
    const repository = `a generated repository of ${fileCount} files (100 folders)`;
    return [
      figure('workspace_create_p99_ms', create.p99, 'ms', {
        atMost: 300,
        notes:
          `WorkspaceStore.open of a new task in ${repository}, overlay checkout: the source branch's tip read, task ` +
          `refs, an overlay mounted on the shared checkout of the commit; ${describeLatency(create)}. The first ` +
          `task on a commit makes that shared checkout (every file written once per machine and commit): ` +
          `${Math.round(figures.firstMs)} ms. Same run, interleaved, a full git worktree per task (workspace.checkout: ` +
          `worktree): ${describeLatency(before.create)}`,
      }),
      figure('sandbox_overhead_p50_ms', overhead.p50, 'ms', { atMost: 15, notes: sandboxNotes }),
      figure('sandbox_overhead_p99_ms', overhead.p99, 'ms', { atMost: 40, notes: sandboxNotes }),
      figure('workspace_step_commit_p99_ms', commit.p99, 'ms', {
        atMost: 150,
        notes:
          `WorkspaceStore.commitStep with 10 changed files in ${repository}, overlay checkout (the upper layer's ` +
          `paths through git add -A into a copy of the base index, write-tree, commit-tree, update-ref); ` +
          `${describeLatency(commit)}. Same run, interleaved, a worktree (git add -A over the whole tree, commit): ` +
          `${describeLatency(before.commit)}`,
      }),
      figure('workspace_disk_per_child_bytes', perChild, 'bytes', {
        atMost: 1_000_000,
        decimals: 0,
        notes:
          `one child with 10 changed files, overlay checkout, beyond the store's shared objects (${storeBytes} B) ` +
          `and the shared checkout of the commit: its layers ${checkoutBytes} B (upper and work: the changed ` +
          `files) + ${adminBytes} B admin + ≈${Math.round(objectBytesPerChild)} B of new objects; du, allocated ` +
          `blocks. A worktree child, same run: ${before.perChild.toFixed(0)} B (every file of the work tree)`,
      }),
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
