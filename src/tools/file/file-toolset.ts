import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BatonError } from '../../errors.ts';
import { cutText } from '../../text/cut-text.ts';
import { workspaceOf } from '../terminal/terminal-toolset.ts';
import { defineTool, type Tool } from '../tool.ts';
import { confinePath } from './confine-path.ts';
import { listWorkspaceFiles, matchesGlob } from './list-workspace-files.ts';

const defaultReadLines = 2000;
const maxLineChars = 2000;
const maxListedFiles = 1000;
const maxSearchMatches = 200;
/** Files larger than this are skipped by search_files, in bytes. */
const maxSearchedFileBytes = 2_000_000;

const pathField = z.string().min(1).max(4096).describe('Path relative to the workspace.');

function failure(message: string): BatonError {
  return new BatonError('tool_failed', message, { fault: 'model' });
}

async function readText(file: string, requested: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw failure(`${requested} does not exist`);
    if (code === 'EISDIR') throw failure(`${requested} is a folder: use list_files`);
    throw error;
  }
}

function occurrences(text: string, part: string): number {
  let count = 0;
  for (let index = text.indexOf(part); index !== -1; index = text.indexOf(part, index + part.length))
    count += 1;
  return count;
}

/** The `file` toolset: read, write, edit, list and search files of the task's workspace, never outside it. */
export function createFileToolset(): Tool[] {
  return [
    defineTool({
      name: 'read_file',
      retrySafe: true,
      description: `Read a text file of your workspace as numbered lines (at most ${defaultReadLines} unless limit says).`,
      inputSchema: z.object({
        path: pathField,
        offset: z.number().int().positive().optional().describe('First line to read, 1-based (default 1).'),
        limit: z
          .number()
          .int()
          .positive()
          .optional()
          .describe(`Lines to read (default ${defaultReadLines}).`),
      }),
      async execute(input, context) {
        const root = workspaceOf(context).directory;
        const file = await confinePath(root, input.path);
        const lines = (await readText(file, input.path)).split('\n');
        if (lines.at(-1) === '') lines.pop();
        const first = input.offset ?? 1;
        const shown = lines.slice(first - 1, first - 1 + (input.limit ?? defaultReadLines));
        const numbered = shown.map((line, index) => {
          const text = line.length > maxLineChars ? `${line.slice(0, maxLineChars)}…` : line;
          return `${String(first + index).padStart(6)}\t${text}`;
        });
        return { path: input.path, total_lines: lines.length, content: numbered.join('\n') };
      },
    }),
    defineTool({
      name: 'write_file',
      // Writing the same content again leaves the same file.
      retrySafe: true,
      description:
        'Create or overwrite a file of your workspace with the given content (folders are created).',
      inputSchema: z.object({ path: pathField, content: z.string().max(5_000_000) }),
      async execute(input, context) {
        const root = workspaceOf(context).directory;
        const file = await confinePath(root, input.path);
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, input.content);
        return { path: input.path, bytes: Buffer.byteLength(input.content) };
      },
    }),
    defineTool({
      name: 'edit_file',
      description:
        'Replace old_string by new_string in a file of your workspace. Refused unless old_string occurs exactly ' +
        'once (add surrounding lines to make it unique), or replace_all is true.',
      inputSchema: z.object({
        path: pathField,
        old_string: z.string().min(1),
        new_string: z.string(),
        replace_all: z.boolean().optional(),
      }),
      async execute(input, context) {
        const root = workspaceOf(context).directory;
        const file = await confinePath(root, input.path);
        const text = await readText(file, input.path);
        const count = occurrences(text, input.old_string);
        if (count === 0)
          throw failure(`old_string was not found in ${input.path}; read the file and copy it exactly`);
        if (count > 1 && !input.replace_all) {
          throw failure(
            `old_string occurs ${count} times in ${input.path}; include more surrounding text to make it unique, ` +
              'or set replace_all',
          );
        }
        const edited = input.replace_all
          ? text.split(input.old_string).join(input.new_string)
          : text.replace(input.old_string, () => input.new_string);
        await writeFile(file, edited);
        return { path: input.path, replacements: input.replace_all ? count : 1 };
      },
    }),
    defineTool({
      name: 'list_files',
      retrySafe: true,
      description: `List files of your workspace (what .gitignore ignores is left out), at most ${maxListedFiles}.`,
      inputSchema: z.object({
        path: z
          .string()
          .max(4096)
          .optional()
          .describe('Folder to list, relative to the workspace (default all).'),
        pattern: z
          .string()
          .max(500)
          .optional()
          .describe('Glob the files must match, e.g. "*.ts" or "src/**/*.json".'),
      }),
      async execute(input, context) {
        const root = workspaceOf(context).directory;
        const directory = await confinePath(root, input.path ?? '.');
        let files = await listWorkspaceFiles(workspaceOf(context), directory);
        if (input.pattern) files = files.filter((file) => matchesGlob(file, input.pattern!));
        return {
          files: files.slice(0, maxListedFiles),
          ...(files.length > maxListedFiles ? { truncated: true, total: files.length } : {}),
        };
      },
    }),
    defineTool({
      name: 'search_files',
      retrySafe: true,
      description: `Search the files of your workspace for a regular expression; returns file, line and text (at most ${maxSearchMatches}).`,
      inputSchema: z.object({
        pattern: z.string().min(1).max(1000).describe('A JavaScript regular expression.'),
        path: z
          .string()
          .max(4096)
          .optional()
          .describe('Folder to search, relative to the workspace (default all).'),
        glob: z.string().max(500).optional().describe('Only files matching this glob, e.g. "*.py".'),
      }),
      async execute(input, context) {
        const root = workspaceOf(context).directory;
        let expression: RegExp;
        try {
          expression = new RegExp(input.pattern);
        } catch (error) {
          throw failure(`pattern is not a valid regular expression: ${(error as Error).message}`);
        }
        const directory = await confinePath(root, input.path ?? '.');
        let files = await listWorkspaceFiles(workspaceOf(context), directory);
        if (input.glob) files = files.filter((file) => matchesGlob(file, input.glob!));
        const matches: { file: string; line: number; text: string }[] = [];
        for (const file of files) {
          if (matches.length >= maxSearchMatches) break;
          const full = path.join(root, file);
          const stats = await stat(full).catch(() => null);
          if (!stats?.isFile() || stats.size > maxSearchedFileBytes) continue;
          const content = await readFile(full);
          if (content.subarray(0, 8000).includes(0)) continue;
          const lines = content.toString('utf8').split('\n');
          for (let index = 0; index < lines.length && matches.length < maxSearchMatches; index += 1) {
            if (expression.test(lines[index]!)) {
              matches.push({ file, line: index + 1, text: cutText(lines[index]!, 500) });
            }
          }
        }
        return { matches, ...(matches.length >= maxSearchMatches ? { truncated: true } : {}) };
      },
    }),
  ];
}
