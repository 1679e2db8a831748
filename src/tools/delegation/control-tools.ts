import { z } from 'zod';
import type { TaskService } from '../../tasks/task-service.ts';
import { defineTool, type Tool } from '../tool.ts';
import { mergeCompletedTask } from '../workspace/merge-task.ts';
import type { WorkspaceStore } from '../workspace/workspace-store.ts';
import { callerFromContext, idempotencyOf, taskIdField } from './delegation-tool-parts.ts';

export function createSteerTaskTool(service: TaskService): Tool {
  return defineTool({
    name: 'steer_task',
    // The steer is keyed by the tool call id: a replay finds it queued and adds none.
    retrySafe: true,
    description:
      'Send a message to a task that has not finished. The child reads it at its next step boundary, in order, ' +
      'and takes it into account; a task about to finish takes one more step for it, and a task waiting for a ' +
      'person reads it when it goes on (steering does not answer its question). A completed task is reopened ' +
      'by it (a follow-up): it goes on from its own conversation and its new result is posted and collected ' +
      'like the first (collect_task waits for it).',
    inputSchema: z.object({
      task_id: taskIdField,
      message: z.string().trim().min(1).max(8000).describe('The instruction or information for the child.'),
    }),
    async execute(input, context) {
      const { record, reopened, round } = await service.steer(
        callerFromContext(context),
        input.task_id,
        input.message,
        idempotencyOf(context),
      );
      return reopened
        ? { task_id: record.id, status: 'steer_queued', reopened: true, round }
        : { task_id: record.id, status: 'steer_queued' };
    },
  });
}

export function createCancelTaskTool(service: TaskService): Tool {
  return defineTool({
    name: 'cancel_task',
    // Cancelling again changes nothing; a replay after a finished cancel says the task already ended.
    retrySafe: true,
    description:
      'Cancel a task that has not finished (queued, running, or waiting for a person) and every task it ' +
      'started. Returns once the child has stopped.',
    inputSchema: z.object({ task_id: taskIdField }),
    async execute(input, context) {
      const { record, stopped } = await service.cancel(callerFromContext(context), input.task_id);
      return { task_id: record.id, status: record.status, ...(stopped ? {} : { stopping: true }) };
    },
  });
}

export function createMergeTaskTool(service: TaskService, workspaces: WorkspaceStore): Tool {
  return defineTool({
    name: 'merge_task',
    // Merging again finds the change already merged and changes nothing.
    retrySafe: true,
    description:
      "Merge a completed task's workspace change into its workspace's branch (git three-way merge). A " +
      'conflict changes nothing and lists the conflicting paths. Only completed tasks are merged.',
    inputSchema: z.object({ task_id: taskIdField }),
    async execute(input, context) {
      const caller = callerFromContext(context);
      const record = await service.lookup(caller, input.task_id, 'merge');
      const outcome = await mergeCompletedTask(workspaces, record, {
        by: caller.displayName,
        recorder: service.store,
      });
      switch (outcome.kind) {
        case 'merged':
          return { task_id: record.id, merged: true, into: outcome.ref, commit: outcome.commit };
        case 'conflict':
          return { task_id: record.id, merged: false, conflict: true, paths: outcome.paths };
        case 'nothing':
          return { task_id: record.id, merged: false, reason: outcome.reason };
      }
    },
  });
}
