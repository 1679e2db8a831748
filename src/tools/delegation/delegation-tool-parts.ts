import { z } from 'zod';

import { taskIdPattern } from '../../tasks/task-ids.ts';
import type { TaskRecord } from '../../tasks/task-record.ts';
import type { TaskCaller } from '../../tasks/task-service.ts';
import { durationSeconds } from '../../tasks/task-views.ts';
import type { ToolContext } from '../tool.ts';

/* What the delegation tools share: the task id argument, a call's caller and idempotency key, a result. */

/**
 * The `task_id` argument of the tools that act on one task. Checked against the id pattern here, at the
 * edge, so a malformed id (a key pattern, a path, a megabyte of text) never reaches Redis.
 */
export const taskIdField = z
  .string()
  .trim()
  .toLowerCase()
  .regex(taskIdPattern, 'not a task id: task ids look like t_7k2m9q')
  .describe('The task id, e.g. t_7k2m9q.');

/** The tool call id keys a dispatch or a steer, so a call replayed after a crash has no second effect. */
export function idempotencyOf(context: ToolContext): { idempotencyKey?: string } {
  return context.toolCallId ? { idempotencyKey: context.toolCallId } : {};
}

/**
 * Runs a long wait for other work, lending the parent's turn slot out meanwhile when there is one (see
 * ToolContext.releaseTurnSlotWhile), so other threads are answered while this one waits.
 */
export function waitingWithoutTurnSlot<T>(context: ToolContext, work: () => Promise<T>): Promise<T> {
  return context.releaseTurnSlotWhile ? context.releaseTurnSlotWhile(work) : work();
}

export function callerFromContext(context: ToolContext): TaskCaller {
  const personName = context.actor?.name ?? context.origin.userName;
  const displayName = context.callerTaskId
    ? `task ${context.callerTaskId}`
    : personName
      ? `${personName} (through the parent agent)`
      : 'the parent agent';
  return {
    sessionKey: context.sessionKey,
    origin: context.origin,
    callerTaskId: context.callerTaskId,
    depth: context.depth,
    displayName,
    ...(context.actor ? { actor: context.actor } : {}),
  };
}

/** The per-task result of delegate_task. */
export function resultView(record: TaskRecord) {
  return {
    task_id: record.id,
    status: record.status,
    summary: record.summary ?? '',
    ...(record.error ? { error: record.error } : {}),
    ...structuredView(record),
    steps: record.steps,
    tokens: record.usage.total_tokens,
    duration_s: durationSeconds(record),
  };
}

/**
 * What a finished task with an output_schema adds to its result: `output` (the parsed JSON, null when it
 * did not match) and `schema_valid`, with the errors when not valid. Nothing for a task without a schema,
 * so those results keep their shape.
 */
export function structuredView(record: TaskRecord) {
  if (!record.outputSchema || record.status !== 'completed') return {};
  const structured = record.structured;
  if (!structured) return { output: null, schema_valid: false };
  return structured.schemaValid
    ? { output: structured.output ?? null, schema_valid: true }
    : { output: null, schema_valid: false, schema_errors: structured.errors ?? [] };
}
