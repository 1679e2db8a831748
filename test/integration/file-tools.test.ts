import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeToolCall } from '../../src/agent/execute-tool-call.ts';
import { createFileToolset } from '../../src/tools/file/file-toolset.ts';
import { listWorkspaceFiles } from '../../src/tools/file/list-workspace-files.ts';
import type { Tool, ToolContext } from '../../src/tools/tool.ts';

/** Issue 10, the `file` toolset: reads, writes, edits, lists and searches inside the workspace, never outside. */
const tools = new Map<string, Tool>(createFileToolset().map((tool) => [tool.name, tool]));
let root: string;
let context: ToolContext;

async function call(name: string, input: unknown): Promise<Record<string, unknown>> {
  const outcome = await executeToolCall(
    { id: `call_${name}`, type: 'function', function: { name, arguments: JSON.stringify(input) } },
    tools,
    context,
    10_000,
  );
  return JSON.parse(outcome.content) as Record<string, unknown>;
}

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'baton-files-'));
  execFileSync('git', ['init', '-q', root]);
  writeFileSync(path.join(root, '.gitignore'), 'build/\n');
  mkdirSync(path.join(root, 'src'));
  mkdirSync(path.join(root, 'build'));
  writeFileSync(path.join(root, 'src', 'app.ts'), 'const a = 1;\nconst b = 2;\nconst a2 = 1;\n');
  writeFileSync(path.join(root, 'build', 'out.js'), 'ignored\n');
  symlinkSync('/etc', path.join(root, 'etc-link'));
  symlinkSync('/etc/passwd', path.join(root, 'passwd-link'));
  symlinkSync('src/app.ts', path.join(root, 'inside-link'));
  context = {
    sessionKey: 'test:c:t',
    origin: { platform: 'test', channel: 'c', thread: 't', user: 'u' },
    callerTaskId: 't_files1',
    depth: 1,
    signal: new AbortController().signal,
    workspace: { directory: root, gitDirectory: path.join(root, '.git') },
  };
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('file tools', () => {
  it('read numbered lines, with offset and limit', async () => {
    const result = await call('read_file', { path: 'src/app.ts', offset: 2, limit: 1 });
    expect(result).toEqual({ path: 'src/app.ts', total_lines: 3, content: '     2\tconst b = 2;' });
  });

  it('write creates folders; edit refuses an ambiguous match unless replace_all', async () => {
    expect(await call('write_file', { path: 'docs/new.md', content: 'x = 1\nx = 1\n' })).toEqual({
      path: 'docs/new.md',
      bytes: 12,
    });
    const ambiguous = await call('edit_file', { path: 'docs/new.md', old_string: 'x = 1', new_string: 'y' });
    expect(ambiguous.error).toMatch(/occurs 2 times/);
    const missing = await call('edit_file', { path: 'docs/new.md', old_string: 'nope', new_string: 'y' });
    expect(missing.error).toMatch(/not found/);
    const all = await call('edit_file', {
      path: 'docs/new.md',
      old_string: 'x = 1',
      new_string: 'y = $&',
      replace_all: true,
    });
    expect(all).toEqual({ path: 'docs/new.md', replacements: 2 });
    const once = await call('edit_file', {
      path: 'src/app.ts',
      old_string: 'const b = 2;',
      new_string: 'const b = $1;',
    });
    expect(once).toEqual({ path: 'src/app.ts', replacements: 1 });
    expect(readFileSync(path.join(root, 'docs/new.md'), 'utf8')).toBe('y = $&\ny = $&\n');
    expect(readFileSync(path.join(root, 'src/app.ts'), 'utf8')).toContain('const b = $1;');
  });

  it('list leaves out what .gitignore ignores, and filters by glob', async () => {
    const listed = (await call('list_files', {})).files as string[];
    expect(listed).toContain('src/app.ts');
    expect(listed.some((file) => file.startsWith('build/'))).toBe(false);
    expect((await call('list_files', { pattern: '*.ts' })).files).toEqual(['src/app.ts']);
  });

  it('lists a scratch directory that lies inside an ignored folder of another repository', async () => {
    const project = mkdtempSync(path.join(os.tmpdir(), 'baton-project-'));
    try {
      execFileSync('git', ['init', '-q', project]);
      writeFileSync(path.join(project, '.gitignore'), '.baton/\n');
      const scratch = path.join(project, '.baton', 'worktrees', 'task_1.scratch');
      mkdirSync(path.join(scratch, 'notes'), { recursive: true });
      writeFileSync(path.join(scratch, 'a.txt'), 'a\n');
      writeFileSync(path.join(scratch, 'notes', 'b.txt'), 'b\n');
      expect(await listWorkspaceFiles({ directory: scratch }, scratch)).toEqual(['a.txt', 'notes/b.txt']);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it("lists through the git directory Baton names, never the workspace's own .git, and leaves deleted files out", async () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-listing-'));
    try {
      const work = path.join(scratch, 'work');
      const admin = path.join(scratch, 'admin.git');
      const evil = path.join(scratch, 'evil');
      execFileSync('git', ['init', '-q', '--separate-git-dir', admin, work]);
      writeFileSync(path.join(work, 'kept.txt'), 'k\n');
      writeFileSync(path.join(work, 'gone.txt'), 'g\n');
      execFileSync('git', ['-C', work, 'add', '-A']);
      rmSync(path.join(work, 'gone.txt'));
      // The task points its .git at a repository of its choosing, whose index names a file that is not there.
      execFileSync('git', ['init', '-q', evil]);
      writeFileSync(path.join(evil, 'planted.txt'), 'p\n');
      execFileSync('git', ['-C', evil, 'add', '-A']);
      writeFileSync(path.join(work, '.git'), `gitdir: ${path.join(evil, '.git')}\n`);
      const listed = await listWorkspaceFiles({ directory: work, gitDirectory: admin }, work);
      expect(listed).toEqual(['kept.txt']);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('search finds a regex with file and line', async () => {
    const result = await call('search_files', { pattern: 'const a\\d?', glob: '*.ts' });
    expect(result.matches).toEqual([
      { file: 'src/app.ts', line: 1, text: 'const a = 1;' },
      { file: 'src/app.ts', line: 3, text: 'const a2 = 1;' },
    ]);
  });

  it('refuses .., absolute paths and symlinks pointing out, with a clear error', async () => {
    expect((await call('read_file', { path: '../outside.txt' })).error).toMatch(/outside the workspace/);
    expect((await call('read_file', { path: 'src/../../x' })).error).toMatch(/outside the workspace/);
    expect((await call('read_file', { path: '/etc/passwd' })).error).toMatch(/absolute path/);
    expect((await call('read_file', { path: 'etc-link/passwd' })).error).toMatch(
      /outside the workspace through a symlink/,
    );
    expect((await call('read_file', { path: 'passwd-link' })).error).toMatch(
      /outside the workspace through a symlink/,
    );
    expect((await call('write_file', { path: 'etc-link/baton-evil', content: 'x' })).error).toMatch(
      /outside the workspace through a symlink/,
    );
    expect((await call('list_files', { path: 'etc-link' })).error).toMatch(
      /outside the workspace through a symlink/,
    );
    expect((await call('search_files', { pattern: 'root', path: '..' })).error).toMatch(
      /outside the workspace/,
    );
    // A symlink that stays inside is fine.
    expect((await call('read_file', { path: 'inside-link', limit: 1 })).content).toBe('     1\tconst a = 1;');
  });
});
