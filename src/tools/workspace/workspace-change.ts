import type { TaskRecord } from '../../tasks/task-record.ts';
import type { Tool } from '../tool.ts';

/** The tools that work in a task's directory; a task with any of them gets one (a scratch one at least). */
const workspaceToolNames = new Set([
  'terminal',
  'read_file',
  'write_file',
  'edit_file',
  'list_files',
  'search_files',
]);

/** Tools whose calls may change files; a step that called none of them has nothing to commit. */
const changingToolNames = new Set(['terminal', 'write_file', 'edit_file']);

/** Whether a step that called these tools may have changed the workspace (so it is worth a commit). */
export function mayHaveChangedFiles(toolNames: string[]): boolean {
  return toolNames.some((name) => changingToolNames.has(name));
}

export function needsWorkspace(record: TaskRecord, tools: Tool[]): boolean {
  return record.workspace !== undefined || tools.some((tool) => workspaceToolNames.has(tool.name));
}

/** The result line of a completed task's change: files, lines, and the branch it was pushed to. */
export function changeLine(
  taskId: string,
  workspace: string,
  change: { files: number; added: number; removed: number; branch?: string },
): string {
  if (change.files === 0) return `Workspace ${workspace}: no files changed.`;
  const files = `${change.files} file${change.files === 1 ? '' : 's'} changed, +${change.added} −${change.removed}`;
  const where = change.branch ? `branch ${change.branch}` : `task ref refs/baton/tasks/${taskId}`;
  return `Workspace ${workspace}: ${files} (${where}); merge_task ${taskId} merges it.`;
}
