import { BatonError } from '../../errors.ts';
import type { TaskMerge, TaskRecord } from '../../tasks/task-record.ts';
import { type MergeOutcome, taskBranch, type WorkspaceStore } from './workspace-store.ts';

/** Where a merge is written down: the task store's record of it. */
export interface MergeRecorder {
  recordMerge(taskId: string, merge: TaskMerge): Promise<void>;
}

/**
 * Merges a task's change into its workspace's branch: only a task that completed (failed, cancelled and
 * timed-out ones are never merged; their ref stays for inspection). Access is the caller's to check first.
 * A merge is recorded on the task (`by` merged it, when, into which branch, the resulting commit).
 */
export async function mergeCompletedTask(
  workspaces: WorkspaceStore,
  record: TaskRecord,
  merger: { by: string; recorder: MergeRecorder },
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
  const outcome = await workspaces.merge(record.id, record.workspace);
  if (outcome.kind === 'merged') {
    await merger.recorder.recordMerge(record.id, {
      by: merger.by,
      at: Date.now(),
      into: outcome.ref,
      commit: outcome.commit,
    });
  }
  return outcome;
}

/** A recorded merge in one line, for status messages. */
export function mergeLine(merge: TaskMerge): string {
  return `merged into ${merge.into} as ${merge.commit.slice(0, 12)} by ${merge.by} at ${new Date(merge.at).toISOString()}`;
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
