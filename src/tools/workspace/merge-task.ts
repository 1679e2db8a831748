import { BatonError } from '../../errors.ts';
import type { TaskRecord } from '../../tasks/task-record.ts';
import { type MergeOutcome, taskBranch, type WorkspaceStore } from './workspace-store.ts';

/**
 * Merges a task's change into its workspace's branch: only a task that completed (failed, cancelled and
 * timed-out ones are never merged; their ref stays for inspection). Access is the caller's to check first.
 */
export async function mergeCompletedTask(
  workspaces: WorkspaceStore,
  record: TaskRecord,
): Promise<MergeOutcome> {
  if (!record.workspace) {
    throw new BatonError(
      'invalid_arguments',
      `${record.id} worked in no workspace; there is nothing to merge`,
      {
        fault: 'user',
      },
    );
  }
  if (record.status !== 'completed') {
    throw new BatonError(
      'invalid_arguments',
      `${record.id} is ${record.status}; only a completed task is merged (its snapshot stays at ` +
        `refs/baton/tasks/${record.id} for inspection)`,
      { fault: 'user' },
    );
  }
  return await workspaces.merge(record.id, record.workspace);
}

/** A merge's outcome in one line for chat. */
export function mergeOutcomeText(taskId: string, outcome: MergeOutcome): string {
  switch (outcome.kind) {
    case 'merged':
      return `Merged ${taskId} (${taskBranch(taskId)}) into ${outcome.ref} as ${outcome.commit.slice(0, 12)}.`;
    case 'conflict':
      return `${taskId} was not merged: it conflicts in ${outcome.paths.join(', ')}. Nothing was changed.`;
    case 'nothing':
      return `Nothing to merge for ${taskId}: ${outcome.reason}.`;
  }
}
