import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  type BatonProcess,
  buildTestConfig,
  eventually,
  spawnWorkerProcess,
  testCaller,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { git, makeSourceRepository } from '../support/git-fixtures.ts';
import { scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * Issue 10, durable workspaces: a worker is SIGKILLed while its child's terminal command runs between
 * edits; another worker resumes the child with the workspace as of its last finished step (the killed
 * step's half-done change is gone, no finished step's is lost or applied twice), tells the model the
 * command was interrupted, and ends with the same tree as a run nobody killed.
 */
const { fake, redis, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let layer: Record<string, unknown>;
let source: string;
let scratch: string;
let store: string;
let root: string;
const workers: BatonProcess[] = [];
const sleepName = `baton-durable-sleep-${process.pid}`;

beforeAll(async () => {
  source = makeSourceRepository({ 'README.md': '# app\n' });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-durable-'));
  store = path.join(scratch, 'store.git');
  root = path.join(scratch, 'worktrees');
  layer = testConfigLayer(fake, { workspaces: { app: { source } }, workspace: { store, root } });
  runtime = await startRuntime(buildTestConfig(layer));
});
afterEach(() => {
  for (const worker of workers.splice(0)) worker.child.kill('SIGKILL');
});
afterAll(() => {
  rmSync(source, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

async function startWorker(): Promise<BatonProcess> {
  const worker = await spawnWorkerProcess(redis.url, layer);
  workers.push(worker);
  return worker;
}

const write = (file: string, content: string) =>
  toolCallReply([{ name: 'write_file', arguments: { path: file, content } }]);

describe('a workspace across workers', () => {
  it('resumes after SIGKILL from the last finished step, and ends with the tree of a run nobody killed', async () => {
    let afterResume: unknown;
    fake.setHandler(
      scriptByGoal({
        'Edit three files': (request, call) => {
          if (call === 1) return write('a.txt', 'one\n');
          if (call === 2) return write('b.txt', 'two\n');
          if (call === 3) {
            return toolCallReply([
              {
                name: 'terminal',
                arguments: { command: `echo half > c.txt; exec -a ${sleepName} sleep 600` },
              },
            ]);
          }
          if (call === 4) {
            afterResume = toolResultsOf(request).at(-1);
            return write('c.txt', 'three\n');
          }
          return textReply('three files written');
        },
        'Edit three files, undisturbed': (_request, call) => {
          if (call === 1) return write('a.txt', 'one\n');
          if (call === 2) return write('b.txt', 'two\n');
          if (call === 3) return write('c.txt', 'three\n');
          return textReply('three files written');
        },
      }),
    );
    const first = await startWorker();
    const [task] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Edit three files', toolsets: ['terminal', 'file'], workspace: 'app' },
    ]);
    // The third step's command is running: it wrote its half of c.txt and sleeps.
    const checkout = await eventually(async () => {
      if (!existsSync(root)) return undefined;
      const directory = readdirSync(root).find((name) => name.startsWith(`${task!.id}.`));
      return directory && existsSync(path.join(root, directory, 'c.txt'))
        ? path.join(root, directory)
        : undefined;
    }, 30_000);
    expect((await runtime.store.loadCheckpoint(task!.id))?.workspaceCommit).toBe(
      git(store, 'rev-parse', `refs/baton/tasks/${task!.id}`),
    );
    first.child.kill('SIGKILL');
    await first.exited;
    // The sandbox died with its worker: nothing of the command is left running.
    await eventually(async () =>
      execFileSync('ps', ['-eo', 'args']).toString().includes(sleepName) ? undefined : true,
    );
    await startWorker();
    const { records } = await runtime.service.waitForEnd([task!.id], 60_000);
    expect(records[0]).toMatchObject({ status: 'completed', attempts: 2 });
    expect(afterResume).toMatchObject({ error: expect.stringMatching(/interrupted/) });
    expect(existsSync(checkout)).toBe(false);

    const [undisturbed] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Edit three files, undisturbed', toolsets: ['file'], workspace: 'app' },
    ]);
    const { records: control } = await runtime.service.waitForEnd([undisturbed!.id], 60_000);
    expect(control[0]!.status).toBe('completed');

    const killed = `refs/baton/tasks/${task!.id}`;
    const calm = `refs/baton/tasks/${undisturbed!.id}`;
    expect(git(store, 'show', `${killed}:c.txt`)).toBe('three');
    expect(git(store, 'rev-parse', `${killed}^{tree}`)).toBe(git(store, 'rev-parse', `${calm}^{tree}`));
    // One commit per step that changed files, in both runs: nothing applied twice.
    expect(git(store, 'rev-list', '--count', `refs/baton/bases/${task!.id}..${killed}`)).toBe('3');
    expect(git(store, 'rev-list', '--count', `refs/baton/bases/${undisturbed!.id}..${calm}`)).toBe('3');
    expect(records[0]!.change).toMatchObject({ files: 3, added: 3, removed: 0 });
  });

  it('retention: refs of tasks whose records expired are deleted', async () => {
    const before = git(store, 'for-each-ref', '--format=%(refname)', 'refs/baton/tasks/')
      .split('\n')
      .filter(Boolean);
    expect(before.length).toBeGreaterThan(0);
    const removed = await runtime.workspaces.sweep(async (taskIds) => taskIds.map(() => false));
    expect(removed).toBe(before.length);
    expect(git(store, 'for-each-ref', 'refs/baton/tasks/', 'refs/baton/bases/')).toBe('');
  });
});
