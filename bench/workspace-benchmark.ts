import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { batonConfigSchema } from '../src/config/schema.ts';
import { runCommand } from '../src/tools/terminal/run-command.ts';
import { findBubblewrap } from '../src/tools/terminal/sandbox-command.ts';
import { WorkspaceStore } from '../src/tools/workspace/workspace-store.ts';
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

/**
 * Workspaces and the sandbox: checkout creation and step commits in a generated 10,000-file repository,
 * the disk a child's checkout takes beyond the shared objects, and what bubblewrap adds to a command.
 */
export async function benchWorkspaces(log: (line: string) => void): Promise<BenchResult[]> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-ws-'));
  try {
    const source = path.join(scratch, 'source');
    generateRepository(source);
    log(`generated ${fileCount} files in ${source}`);
    const store = new WorkspaceStore(
      { app: { source, ref: 'main', merge: 'none' } },
      { store: path.join(scratch, 'store.git'), root: path.join(scratch, 'worktrees') },
    );
    // Warm-up: the first open copies the source's objects into the store, once for every child after it.
    const warm = await store.open('t_warm00', 'app', null, 'bench');
    const storeBytes = diskBytes(path.join(scratch, 'store.git'));
    const createMs: number[] = [];
    const opened = [];
    for (let index = 0; index < createSamples; index += 1) {
      const started = performance.now();
      opened.push(await store.open(`t_bench${String(index).padStart(2, '0')}`, 'app', null, 'bench'));
      createMs.push(performance.now() - started);
    }
    const create = summarize(createMs);
    log(`workspace create: ${describeLatency(create)}`);

    const commitMs: number[] = [];
    for (let index = 0; index < commitSamples; index += 1) {
      const workspace = opened[index]!;
      for (let file = 0; file < 10; file += 1) {
        writeFileSync(
          path.join(workspace.directory, `module-${file}`, 'file-0.ts'),
          `// changed in step ${index}\n`,
        );
      }
      const started = performance.now();
      await store.commitStep(`t_bench${String(index).padStart(2, '0')}`, workspace, 1);
      commitMs.push(performance.now() - started);
    }
    const commit = summarize(commitMs);
    log(`step commit: ${describeLatency(commit)}`);

    const storeAfter = diskBytes(path.join(scratch, 'store.git'));
    // A child's own disk: its checkout (work tree and .git file) plus its admin folder (index, HEAD) in the store.
    const sample = opened[0]!;
    const checkoutBytes = diskBytes(sample.directory);
    const adminBytes = diskBytes(sample.gitDirectory!);
    const objectBytesPerChild = Math.max(
      0,
      (storeAfter - storeBytes - adminBytes * createSamples) / createSamples,
    );
    const perChild = checkoutBytes + adminBytes + objectBytesPerChild;
    log(
      `disk per child: checkout ${checkoutBytes} B, admin ${adminBytes} B, new objects ≈ ${Math.round(objectBytesPerChild)} B`,
    );
    for (const workspace of [warm, ...opened]) await store.close(workspace);

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
        notes: `WorkspaceStore.open of a new task in ${repository}: fetch of the source branch into the store, task refs, git worktree add (checkout of every file); ${describeLatency(create)}`,
      }),
      figure('sandbox_overhead_p50_ms', overhead.p50, 'ms', { atMost: 15, notes: sandboxNotes }),
      figure('sandbox_overhead_p99_ms', overhead.p99, 'ms', { atMost: 40, notes: sandboxNotes }),
      figure('workspace_step_commit_p99_ms', commit.p99, 'ms', {
        atMost: 150,
        notes: `WorkspaceStore.commitStep with 10 changed files in ${repository} (git add -A, commit, update-ref); ${describeLatency(commit)}`,
      }),
      figure('workspace_disk_per_child_bytes', perChild, 'bytes', {
        atMost: 1_000_000,
        decimals: 0,
        notes:
          `one child with 10 changed files, beyond the store's shared objects (${storeBytes} B): its checkout ` +
          `${checkoutBytes} B (every file of the work tree) + its worktree admin folder ${adminBytes} B (the index) + ` +
          `≈${Math.round(objectBytesPerChild)} B of new objects; du, allocated blocks`,
      }),
    ];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
