import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeToolCall } from '../../src/agent/execute-tool-call.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import { CommandRouter } from '../../src/gateway/command-router.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { Tool } from '../../src/tools/tool.ts';
import { WorkspaceStore } from '../../src/tools/workspace/workspace-store.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  buildTestConfig,
  eventually,
  parentContext,
  testActor,
  testCaller,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { exitCodeOf, git, makeSourceRepository } from '../support/git-fixtures.ts';
import { goalOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * Issue 10, workspaces end to end with real git, real bubblewrap and the scripted fake model: a child fixes
 * a failing build in its own checkout, its change is published as baton/<id> without touching the source's
 * checked-out branch, and merge_task makes the source pass; two children editing the same lines each see
 * only their own, and the second merge reports the conflict, changing nothing.
 */
const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let source: string;
let scratch: string;
let store: string;
let root: string;

const testScript =
  '#!/bin/bash\ngrep -q "answer=42" config.txt || { echo "build failed: wrong answer" >&2; exit 1; }\n';

beforeAll(async () => {
  source = makeSourceRepository({ 'test.sh': testScript, 'config.txt': 'name=app\nanswer=41\n' });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-wsroot-'));
  store = path.join(scratch, 'store.git');
  root = path.join(scratch, 'worktrees');
  const layer = testConfigLayer(fake, {
    workspaces: { app: { source, ref: 'main', merge: 'branch' } },
    workspace: { store, root },
  });
  runtime = await startRuntime(buildTestConfig(layer));
  await runtime.startWorker();
});
afterAll(() => {
  rmSync(source, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

function mergeTool(): Tool {
  return runtime.parentTools().find((tool) => tool.name === 'merge_task')!;
}

async function merge(taskId: string): Promise<Record<string, unknown>> {
  const outcome = await executeToolCall(
    {
      id: `merge_${taskId}`,
      type: 'function',
      function: { name: 'merge_task', arguments: JSON.stringify({ task_id: taskId }) },
    },
    new Map([['merge_task', mergeTool()]]),
    parentContext(),
    60_000,
  );
  return JSON.parse(outcome.content) as Record<string, unknown>;
}

describe('a child in a workspace', () => {
  it('fixes the build in its own checkout; merge_task makes the source pass', async () => {
    let firstRun: unknown;
    let secondRun: unknown;
    fake.setHandler(
      scriptByGoal({
        'Fix the build': (request, call) => {
          const results = toolResultsOf(request);
          if (call === 1)
            return toolCallReply([{ name: 'terminal', arguments: { command: 'bash test.sh' } }]);
          if (call === 2) {
            firstRun = results.at(-1);
            return toolCallReply([{ name: 'read_file', arguments: { path: 'config.txt' } }]);
          }
          if (call === 3) {
            return toolCallReply([
              {
                name: 'edit_file',
                arguments: { path: 'config.txt', old_string: 'answer=41', new_string: 'answer=42' },
              },
            ]);
          }
          if (call === 4)
            return toolCallReply([
              { name: 'terminal', arguments: { command: 'bash test.sh && echo passes' } },
            ]);
          secondRun = results.at(-1);
          return textReply('Fixed: the answer in config.txt was 41; the build passes.');
        },
      }),
    );
    const [task] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Fix the build', toolsets: ['terminal', 'file'], workspace: 'app' },
    ]);
    const { records } = await runtime.service.waitForEnd([task!.id], 60_000);
    const record = records[0]!;
    expect(record.status).toBe('completed');
    expect(firstRun).toMatchObject({ exit_code: 1, stderr: 'build failed: wrong answer\n' });
    expect(secondRun).toMatchObject({ exit_code: 0, stdout: 'passes\n' });
    expect(record.summary).toContain(`Workspace app: 1 file changed, +1 −1 (branch baton/${task!.id})`);
    expect(record.change).toEqual({ files: 1, added: 1, removed: 1, branch: `baton/${task!.id}` });
    // The branch is in the source; its checked-out main and work tree are untouched.
    expect(git(source, 'show', `baton/${task!.id}:config.txt`)).toContain('answer=42');
    expect(git(source, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
    expect(readFileSync(path.join(source, 'config.txt'), 'utf8')).toContain('answer=41');
    expect(exitCodeOf(source, 'test.sh')).toBe(1);
    // The checkout goes as the run ends (just after the end is recorded); the task's ref keeps the result.
    await eventually(
      async () => (readdirSync(root).some((name) => name.startsWith(task!.id)) ? undefined : true),
      10_000,
      'the checkout to be removed',
    );
    expect(git(store, 'show', `refs/baton/tasks/${task!.id}:config.txt`)).toContain('answer=42');

    const mergedAt = Date.now();
    const mergeResult = await merge(task!.id);
    expect(mergeResult).toMatchObject({ task_id: task!.id, merged: true, into: 'main' });
    expect(exitCodeOf(source, 'test.sh')).toBe(0);
    // The merge is on the task's record: who, when, into what, as which commit; check_task shows it.
    const recorded = (await runtime.store.get(task!.id))!.merge!;
    expect(recorded).toEqual({
      by: 'Ada (through the parent agent)',
      at: expect.any(Number),
      into: 'main',
      commit: mergeResult.commit,
    });
    expect(recorded.at).toBeGreaterThanOrEqual(mergedAt);
    expect(git(source, 'rev-parse', 'main')).toBe(mergeResult.commit);
    const checked = await executeToolCall(
      {
        id: `check_${task!.id}`,
        type: 'function',
        function: { name: 'check_task', arguments: JSON.stringify({ task_id: task!.id }) },
      },
      new Map(runtime.parentTools().map((tool) => [tool.name, tool])),
      parentContext(),
      60_000,
    );
    expect(JSON.parse(checked.content).merged).toEqual({
      by: 'Ada (through the parent agent)',
      at: new Date(recorded.at).toISOString(),
      into: 'main',
      commit: mergeResult.commit,
    });
    expect(git(source, 'status', '--porcelain')).toBe('');
    // Merging again changes nothing.
    expect(await merge(task!.id)).toMatchObject({ merged: false, reason: 'already merged into main' });
  });

  it('keeps two children apart; the first merges, the second reports the conflict and changes nothing', async () => {
    const seen: Record<string, unknown> = {};
    const editor =
      (text: string) =>
      (request: Parameters<Parameters<typeof scriptByGoal>[0][string]>[0], call: number) => {
        if (call === 1)
          return toolCallReply([
            { name: 'write_file', arguments: { path: 'config.txt', content: `name=${text}\n` } },
          ]);
        if (call === 2) return toolCallReply([{ name: 'read_file', arguments: { path: 'config.txt' } }]);
        seen[goalOf(request)!] = toolResultsOf(request).at(-1);
        return textReply(`wrote ${text}`);
      };
    fake.setHandler(scriptByGoal({ 'Name it alpha': editor('alpha'), 'Name it beta': editor('beta') }));
    const [alpha, beta] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Name it alpha', toolsets: ['file'], workspace: 'app' },
      { goal: 'Name it beta', toolsets: ['file'], workspace: 'app' },
    ]);
    const { records } = await runtime.service.waitForEnd([alpha!.id, beta!.id], 60_000);
    expect(records.map((record) => record.error)).toEqual([null, null]);
    expect(records.map((record) => record.status)).toEqual(['completed', 'completed']);
    expect(seen['Name it alpha']).toMatchObject({ content: '     1\tname=alpha' });
    expect(seen['Name it beta']).toMatchObject({ content: '     1\tname=beta' });

    expect(await merge(alpha!.id)).toMatchObject({ merged: true });
    const afterFirst = git(source, 'rev-parse', 'main');
    expect(readFileSync(path.join(source, 'config.txt'), 'utf8')).toBe('name=alpha\n');
    expect(await merge(beta!.id)).toEqual({
      task_id: beta!.id,
      merged: false,
      conflict: true,
      paths: ['config.txt'],
    });
    expect(git(source, 'rev-parse', 'main')).toBe(afterFirst);
    expect(readFileSync(path.join(source, 'config.txt'), 'utf8')).toBe('name=alpha\n');
    expect(git(source, 'status', '--porcelain')).toBe('');
  });

  it('works in a fresh scratch directory without a workspace, removed when the task ends', async () => {
    let listed: unknown;
    fake.setHandler(
      scriptByGoal({
        'Scratch work': (request, call) => {
          if (call === 1)
            return toolCallReply([
              { name: 'terminal', arguments: { command: 'ls -A | wc -l; echo hi > a.txt' } },
            ]);
          if (call === 2) return toolCallReply([{ name: 'list_files', arguments: {} }]);
          listed = toolResultsOf(request);
          return textReply('done');
        },
      }),
    );
    const [task] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Scratch work', toolsets: ['terminal', 'file'] },
    ]);
    const { records } = await runtime.service.waitForEnd([task!.id], 60_000);
    expect(records[0]!.status).toBe('completed');
    expect(listed).toEqual([expect.objectContaining({ stdout: '0\n', exit_code: 0 }), { files: ['a.txt'] }]);
    expect(records[0]!.summary).toBe('done');
    // Removed as the run lets go of the task, just after it completed.
    await eventually(
      async () => (existsSync(path.join(root, `${task!.id}.scratch`)) ? undefined : true),
      10_000,
    );
  });

  it('opens a scratch directory without creating the git store or running git', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'baton-scratch-only-'));
    try {
      const workspaces = new WorkspaceStore({}, { store: 'store.git', root: 'worktrees' }, base);
      const opened = await workspaces.open('task_scratch', null, null, 'run1');
      expect(opened).toMatchObject({ name: null, commit: null });
      expect(existsSync(opened.directory)).toBe(true);
      expect(existsSync(path.join(base, 'store.git'))).toBe(false);
      await workspaces.close(opened);
      expect(existsSync(opened.directory)).toBe(false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('merges from the chat commands (`/baton merge`, `/task merge`) for who may control the task only', async () => {
    fake.setHandler(
      scriptByGoal({
        'Add a changelog': (_request, call) =>
          call === 1
            ? toolCallReply([
                { name: 'write_file', arguments: { path: 'CHANGELOG.md', content: '# changes\n' } },
              ])
            : textReply('added'),
        'Give up': () => textReply('nothing done'),
      }),
    );
    const [task, idle] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Add a changelog', toolsets: ['file'], workspace: 'app' },
      { goal: 'Give up', toolsets: ['file'], workspace: 'app' },
    ]);
    await runtime.service.waitForEnd([task!.id, idle!.id], 60_000);
    const router = new CommandRouter({
      service: runtime.service,
      store: runtime.store,
      access: new AccessPolicy({ ...runtime.config.access, allowed_users: ['u1', 'mallory'] }),
      workspaces: runtime.workspaces,
    });
    const here = { platform: 'test', channel: 'c1', thread: 'th1' };
    const mallory = { id: 'mallory', name: 'Mallory', roleIds: [] };
    const refused = await router.handle({ user: mallory, ref: here, text: `merge ${task!.id}` });
    expect(refused).toEqual({
      text: `Only the task's owner or an admin can merge ${task!.id}.`,
      ephemeral: true,
    });
    expect(existsSync(path.join(source, 'CHANGELOG.md'))).toBe(false);
    const merged = await router.handle({ user: testActor, ref: here, text: `merge ${task!.id}` });
    expect(merged.text).toMatch(
      new RegExp(`^Merged ${task!.id} \\(baton/${task!.id}\\) into main as [0-9a-f]{12}\\.$`),
    );
    expect(readFileSync(path.join(source, 'CHANGELOG.md'), 'utf8')).toBe('# changes\n');
    const status = await router.handle({ user: testActor, ref: here, text: `status ${task!.id}` });
    expect(status.text).toMatch(
      new RegExp(`\nMerged into main as ${git(source, 'rev-parse', 'main').slice(0, 12)} by Ada at 20`),
    );
    const nothing = await router.handle({ user: testActor, ref: here, text: `merge ${idle!.id}` });
    expect(nothing.text).toBe(`Nothing to merge for ${idle!.id}: the task changed no file.`);
  });

  it('a cancel of the child kills its running command, whole tree, within a second', async () => {
    const marker = `baton-cancel-sleep-${process.pid}`;
    fake.setHandler(
      scriptByGoal({
        'Wait forever': () =>
          toolCallReply([
            {
              name: 'terminal',
              arguments: { command: `(exec -a ${marker} sleep 600) & exec -a ${marker} sleep 600` },
            },
          ]),
      }),
    );
    const [task] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Wait forever', toolsets: ['terminal'] },
    ]);
    const running = () =>
      execFileSync('ps', ['-eo', 'args'])
        .toString()
        .split('\n')
        .filter((line) => line.startsWith(marker));
    await eventually(async () => (running().length === 2 ? true : undefined), 20_000);
    const cancelledAt = Date.now();
    const { record } = await runtime.service.cancel(testCaller(), task!.id);
    expect(record.status).toBe('cancelled');
    expect(running()).toEqual([]);
    expect(Date.now() - cancelledAt).toBeLessThanOrEqual(1000);
  });

  it("keeps the checkout's git metadata out of the command's reach; a rewritten .git file misleads no step commit", async () => {
    const evil = mkdtempSync(path.join(os.tmpdir(), 'baton-evil-'));
    const pwned = path.join(evil, 'pwned');
    writeFileSync(path.join(evil, 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(path.join(evil, 'config'), `[core]\n\tfsmonitor = "touch ${pwned}; false"\n`);
    let result: unknown;
    fake.setHandler(
      scriptByGoal({
        'Tamper with git': (request, call) => {
          if (call === 1) {
            return toolCallReply([
              {
                name: 'terminal',
                arguments: {
                  command: `git log --oneline >/dev/null; echo "git=$?"; echo x > "$(git rev-parse --git-dir)/HEAD"; echo "head=$?"; echo "gitdir: ${evil}" > .git; echo changed > config.txt`,
                },
              },
            ]);
          }
          result = toolResultsOf(request).at(-1);
          return textReply('done');
        },
      }),
    );
    const [task] = await runtime.service.dispatch(testCaller(), [
      { goal: 'Tamper with git', toolsets: ['terminal'], workspace: 'app' },
    ]);
    const { records } = await runtime.service.waitForEnd([task!.id], 60_000);
    expect(records[0]!.status).toBe('completed');
    // git reads the checkout's metadata inside the sandbox, and cannot write it.
    expect(result).toMatchObject({ stdout: expect.stringMatching(/^git=0\nhead=1$/m) });
    expect(existsSync(pwned)).toBe(false);
    expect(git(store, 'show', `refs/baton/tasks/${task!.id}:config.txt`)).toBe('changed');
    rmSync(evil, { recursive: true, force: true });
  });

  it('refuses an unknown workspace at dispatch, naming the configured ones', async () => {
    await expect(
      runtime.service.dispatch(testCaller(), [{ goal: 'x', toolsets: ['file'], workspace: 'nope' }]),
    ).rejects.toThrow('unknown workspace "nope"; available: app');
  });
});
