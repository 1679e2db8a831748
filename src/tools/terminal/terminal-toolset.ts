import { z } from 'zod';
import type { TerminalConfig } from '../../config/schema.ts';
import { BatonError } from '../../errors.ts';
import { defineTool, type Tool, type ToolContext, type WorkspaceAccess } from '../tool.ts';
import { runCommand } from './run-command.ts';

/** The workspace of the calling task; the terminal and file tools refuse to run without one. */
export function workspaceOf(context: ToolContext): WorkspaceAccess {
  if (!context.workspace) {
    throw new BatonError(
      'tool_failed',
      'this agent has no workspace: terminal and file tools run only in child tasks',
      {
        fault: 'model',
      },
    );
  }
  return context.workspace;
}

/** The `terminal` toolset: one tool that runs a shell command in the task's workspace, sandboxed. */
export function createTerminalToolset(config: TerminalConfig, bwrap: string | null): Tool[] {
  return [
    defineTool({
      name: 'terminal',
      // Left false: a command interrupted by a worker's death is reported as interrupted, never replayed blindly.
      retrySafe: false,
      description:
        'Run a shell command (`bash -lc`) in your workspace and get {exit_code, stdout, stderr, truncated, ' +
        `duration_s}. Default time limit ${config.timeout_s} s. ` +
        (bwrap
          ? `Sandboxed: only the workspace and /tmp are writable${config.network ? '' : ', no network'}. `
          : '') +
        'Background processes are killed when the command returns. Long output keeps its head and tail.',
      inputSchema: z.object({
        command: z.string().min(1).max(100_000).describe('The command line, run by bash -lc.'),
        timeout_s: z
          .number()
          .positive()
          .max(config.max_timeout_s)
          .optional()
          .describe(`Seconds before the command is killed (default ${config.timeout_s}).`),
      }),
      // The command's own limit, plus a margin for killing it and collecting its output.
      timeoutMs: (input) => ((input.timeout_s ?? config.timeout_s) + 5) * 1000,
      async execute(input, context) {
        const workspace = workspaceOf(context);
        return await runCommand(config, bwrap, {
          command: input.command,
          workspace: workspace.directory,
          ...(workspace.gitDirectory ? { gitDirectory: workspace.gitDirectory } : {}),
          timeoutMs: (input.timeout_s ?? config.timeout_s) * 1000,
          signal: context.signal,
        });
      },
    }),
  ];
}
