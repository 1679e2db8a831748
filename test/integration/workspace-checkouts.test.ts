import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overlaysUnder } from '../../src/tools/workspace/overlay-mount.ts';
import { WorkspaceStore } from '../../src/tools/workspace/workspace-store.ts';
import { git } from '../support/git-fixtures.ts';

/**
 * Issue 10, how checkouts are made: an overlay on a shared checkout of the commit, or a full git worktree.
 * Either way a step's commit holds exactly what `git add -A` would stage in a plain clone after the same
 * edits (files changed in place with their size kept, deletions of files and folders, a folder replaced,
 * new folders, ignored files, a mode change, a symlink), and a rewritten `.git` is never followed.
 */
let scratch: string;
let source: string;

const files: Record<string, string> = {
  '.gitignore': '*.log\nbuild/\n',
  'src/a.ts': 'const a = 1;\n',
  'src/b.ts': 'const b = 1;\n',
  'docs/guide.md': '# guide\n',
  'docs/old/x.md': 'x\n',
  'old/y.md': 'y\n',
  'run.sh': 'echo run\n',
  'lib/keep.ts': 'export {};\n',
};

function writeTree(root: string, entries: Record<string, string>): void {
  for (const [name, content] of Object.entries(entries)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), content);
  }
}

/** The same edits, made in a task's checkout or in a plain clone. */
function edit(root: string): void {
  writeFileSync(path.join(root, 'src/a.ts'), 'const a = 2;\n');
  rmSync(path.join(root, 'src/b.ts'));
  rmSync(path.join(root, 'docs/old'), { recursive: true });
  rmSync(path.join(root, 'old'), { recursive: true });
  writeTree(root, {
    'old/z.md': 'z\n',
    'new/deep/file.ts': 'new\n',
    'debug.log': 'ignored\n',
    'build/out.js': 'ignored\n',
  });
  chmodSync(path.join(root, 'run.sh'), 0o755);
  symlinkSync('src/a.ts', path.join(root, 'link'));
}

/** The tree `git add -A` makes in a clone of the source after `change`. */
function referenceTree(change: (root: string) => void): string {
  const clone = mkdtempSync(path.join(scratch, 'clone-'));
  execFileSync('git', ['clone', '-q', source, clone]);
  change(clone);
  git(clone, 'add', '-A');
  return git(clone, 'write-tree');
}

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-checkouts-'));
  source = path.join(scratch, 'source');
  execFileSync('git', ['init', '-q', '-b', 'main', source]);
  writeTree(source, files);
  git(source, 'add', '-A');
  git(source, 'commit', '-q', '-m', 'start');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(['overlay', 'worktree'] as const)('a %s checkout', (checkout) => {
  let workspaces: WorkspaceStore;
  let store: string;
  let root: string;

  beforeAll(() => {
    store = path.join(scratch, `${checkout}-store.git`);
    root = path.join(scratch, `${checkout}-root`);
    workspaces = new WorkspaceStore(
      { app: { source, ref: 'main', merge: 'none' } },
      { store, root, checkout },
    );
  });

  it('is the kind asked for', async () => {
    expect(await workspaces.checkoutKind()).toBe(checkout);
  });

  it("commits what git add -A would, and never follows the checkout's .git", async () => {
    const opened = await workspaces.open('t_edits', 'app', null, 'run1');
    const start = opened.commit;
    expect(await workspaces.commitStep('t_edits', opened, 1)).toBe(start);
    edit(opened.directory);
    writeFileSync(path.join(opened.directory, '.git'), `gitdir: ${path.join(scratch, 'nowhere')}\n`);
    const first = await workspaces.commitStep('t_edits', opened, 2);
    expect(first).not.toBe(start);
    expect(git(store, 'rev-parse', `${first}^{tree}`)).toBe(referenceTree(edit));
    expect(git(store, 'rev-parse', 'refs/baton/tasks/t_edits')).toBe(first);

    // Putting a file back as it was takes it out of the change.
    writeFileSync(path.join(opened.directory, 'src/a.ts'), 'const a = 1;\n');
    const second = await workspaces.commitStep('t_edits', opened, 3);
    const reverted = referenceTree((root) => {
      edit(root);
      writeFileSync(path.join(root, 'src/a.ts'), 'const a = 1;\n');
    });
    expect(git(store, 'rev-parse', `${second}^{tree}`)).toBe(reverted);
    expect(git(store, 'rev-list', '--count', `${start}..${second}`)).toBe('2');
    await workspaces.close(opened);
    expect(existsSync(opened.directory)).toBe(false);
  });

  it("resumes a task from its commit, and removes a dead run's checkout", async () => {
    const dead = await workspaces.open('t_resume', 'app', null, 'run1');
    writeFileSync(path.join(dead.directory, 'src/a.ts'), 'const a = 3;\n');
    const commit = await workspaces.commitStep('t_resume', dead, 1);
    // The run dies without closing; the next run of the task takes over on this machine.
    const resumed = await workspaces.open('t_resume', 'app', commit, 'run2');
    expect(existsSync(dead.directory)).toBe(false);
    expect((await overlaysUnder(root)).map((mount) => mount.merged)).not.toContain(dead.directory);
    expect(readFileSync(path.join(resumed.directory, 'src/a.ts'), 'utf8')).toBe('const a = 3;\n');
    rmSync(path.join(resumed.directory, 'lib'), { recursive: true });
    const next = await workspaces.commitStep('t_resume', resumed, 2);
    expect(git(store, 'diff', '--name-status', commit!, next!)).toBe('D\tlib/keep.ts');
    await workspaces.close(resumed);
  });
});

describe('overlay checkouts', () => {
  it('left mounted by a process that died are removed by the next process using the root', async () => {
    const root = path.join(scratch, 'orphan-root');
    const settings = { store: path.join(scratch, 'orphan-store.git'), root, checkout: 'overlay' as const };
    const script = [
      `import { WorkspaceStore } from ${JSON.stringify(path.resolve('src/tools/workspace/workspace-store.ts'))};`,
      `const store = new WorkspaceStore({ app: { source: ${JSON.stringify(source)}, ref: 'main', merge: 'none' } }, ${JSON.stringify(settings)});`,
      "const opened = await store.open('t_orphan', 'app', null, 'run1');",
      'console.log(opened.directory);',
      'process.exit(0);',
    ].join('\n');
    const directory = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script])
      .toString()
      .trim();
    expect((await overlaysUnder(root)).map((mount) => mount.merged)).toEqual([directory]);
    const next = new WorkspaceStore({ app: { source, ref: 'main', merge: 'none' } }, settings);
    expect(await next.checkoutKind()).toBe('overlay');
    expect(await overlaysUnder(root)).toEqual([]);
    expect(existsSync(directory)).toBe(false);
  });

  it('share one checkout of a commit, and a task with 10 changed files takes under 1 MB of its own', async () => {
    const root = path.join(scratch, 'shared-root');
    const workspaces = new WorkspaceStore(
      { app: { source, ref: 'main', merge: 'none' } },
      { store: path.join(scratch, 'shared-store.git'), root, checkout: 'overlay' },
    );
    const one = await workspaces.open('t_one', 'app', null, 'run1');
    const two = await workspaces.open('t_two', 'app', null, 'run1');
    expect(one.overlay!.base.directory).toBe(two.overlay!.base.directory);
    for (let index = 0; index < 10; index += 1) {
      writeFileSync(path.join(one.directory, `changed-${index}.txt`), `change ${index}\n`);
    }
    await workspaces.commitStep('t_one', one, 1);
    const ownBytes =
      Number(execFileSync('du', ['-sk', one.overlay!.layers]).toString().split('\t')[0]) * 1024;
    expect(ownBytes).toBeLessThan(1_000_000);
    // What one task writes, the other does not see.
    expect(existsSync(path.join(two.directory, 'changed-0.txt'))).toBe(false);
    await workspaces.close(one);
    await workspaces.close(two);
    expect(await overlaysUnder(root)).toEqual([]);
  });
});
