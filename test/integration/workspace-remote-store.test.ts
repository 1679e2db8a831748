import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkspaceStore } from '../../src/tools/workspace/workspace-store.ts';
import { git, makeSourceRepository } from '../support/git-fixtures.ts';

/**
 * Issue 10, `workspace.store` as a git remote URL: two machines (two roots, each with its own local cache)
 * share task snapshots through the remote store, so a task resumed on the second machine finds the first
 * machine's finished steps, and a merge made there reads them too.
 */
let scratch: string;
let source: string;
let remote: string;

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-remote-store-'));
  source = makeSourceRepository({ 'notes.txt': 'first\n' });
  remote = path.join(scratch, 'shared.git');
  execFileSync('git', ['init', '-q', '--bare', remote]);
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(source, { recursive: true, force: true });
});

function machine(name: string): WorkspaceStore {
  return new WorkspaceStore(
    { app: { source, ref: null, merge: 'branch' } },
    { store: `file://${remote}`, root: path.join(scratch, name) },
  );
}

describe('a remote workspace store', () => {
  it("carries a task's steps from one machine to another, and merges from the second", async () => {
    const first = machine('machine-a');
    const second = machine('machine-b');
    const opened = await first.open('t_remote1', 'app', null, 'run1');
    writeFileSync(path.join(opened.directory, 'notes.txt'), 'first\nsecond\n');
    const commit = await first.commitStep('t_remote1', opened, 1);
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(git(remote, 'rev-parse', 'refs/baton/tasks/t_remote1')).toBe(commit);

    // The first machine is gone (its checkout with it); the second resumes from the checkpoint's commit.
    await first.close(opened);
    const resumed = await second.open('t_remote1', 'app', commit, 'run2');
    expect(resumed.directory.startsWith(path.join(scratch, 'machine-b'))).toBe(true);
    expect(readFileSync(path.join(resumed.directory, 'notes.txt'), 'utf8')).toBe('first\nsecond\n');
    writeFileSync(path.join(resumed.directory, 'more.txt'), 'third\n');
    await second.commitStep('t_remote1', resumed, 2);
    expect(await second.publish('t_remote1', 'app')).toEqual({
      files: 2,
      added: 2,
      removed: 0,
      branch: 'baton/t_remote1',
    });
    await second.close(resumed);
    expect(git(source, 'branch', '--list', 'baton/*')).toBe('baton/t_remote1');

    // Any machine merges from the shared refs, the source's HEAD branch taken when no ref is configured.
    expect(await first.merge('t_remote1', 'app')).toMatchObject({ kind: 'merged', ref: 'main' });
    expect(readFileSync(path.join(source, 'more.txt'), 'utf8')).toBe('third\n');
  });
});
