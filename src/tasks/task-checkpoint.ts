import { z } from 'zod';
import { BatonError } from '../errors.ts';
import { chatMessageSchema, tokenUsageSchema } from '../llm/chat-message-schema.ts';
import { promptResponseSchema } from './task-serialization.ts';

/**
 * The version of the task checkpoint this code writes. Bump it when the stored shape changes, and keep a
 * reader for each older version in `readers` below: a task checkpointed before an upgrade must resume
 * after it (its job is still queued, or held by a worker of the old version that will stop).
 */
export const taskCheckpointVersion = 1;

const checkpointFields = {
  messages: z.array(chatMessageSchema),
  /** Finished steps (model call plus its tool batch). */
  steps: z.number().int().nonnegative(),
  usage: tokenUsageSchema,
  /** Id of the last steering message already placed in `messages` ('0-0' for none). */
  inboxCursor: z.string().regex(/^\d+-\d+$/, 'a stream id'),
  /** Starts of the tool calls under way (see AgentState); absent when no batch is under way. */
  toolCallStarts: z.record(z.string(), z.number().int().positive()).optional(),
  /**
   * The workspace commit the child's checkout stood on at this point (refs/baton/tasks/<id> in the store);
   * a resumed run recreates the checkout from it. Absent for tasks without a workspace, and in checkpoints
   * written before workspaces existed: optional, so version 1 still reads both ways.
   */
  workspaceCommit: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/, 'a commit id')
    .optional(),
  /**
   * The round of the task that wrote it (a steer reopens a completed task for another round); absent: the
   * first. Optional, so version 1 still reads both ways.
   */
  followUpRound: z.number().int().positive().optional(),
  /**
   * People's responses to calls of the batch under way (ask_user answers, approval decisions), by tool
   * call id: a batch may wait on several calls, one wait at a time. Absent when there are none; optional,
   * so version 1 reads both ways.
   */
  toolDecisions: z.record(z.string(), promptResponseSchema).optional(),
};

const currentSchema = z.object({ version: z.literal(taskCheckpointVersion), ...checkpointFields });

/** The child's conversation after its last finished step (or before its tool batch): what a resumed run starts from. */
export type TaskCheckpoint = Omit<z.infer<typeof currentSchema>, 'version'>;

/**
 * One reader per stored version, each giving today's shape. Version 0 is what Baton wrote before
 * checkpoints carried a version: the same fields, no `version` (and no `toolCallStarts` before issue 8).
 */
const readers: Record<number, z.ZodType<TaskCheckpoint>> = {
  0: z.object(checkpointFields),
  1: currentSchema.transform(({ version: _version, ...checkpoint }) => checkpoint),
};

/** The stored text of a checkpoint: today's version, stamped. */
export function serializeTaskCheckpoint(checkpoint: TaskCheckpoint): string {
  return JSON.stringify({ version: taskCheckpointVersion, ...checkpoint });
}

/**
 * Reads a stored checkpoint of any version this code knows. Throws `checkpoint_invalid` when it is not
 * JSON, is of a version newer than this code, or does not match its version's shape: resuming from a
 * guess could redo or skip work, so the run ends the task with this reason instead.
 */
export function parseTaskCheckpoint(text: string): TaskCheckpoint {
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    throw invalid('it is not JSON');
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) {
    throw invalid('it is not a JSON object');
  }
  const { version } = stored as { version?: unknown };
  if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version) || version < 0)) {
    throw invalid(`its version ${JSON.stringify(version)} is not a version number`);
  }
  const reader = readers[version ?? 0];
  if (!reader) {
    throw invalid(
      `it was written by a newer Baton (checkpoint version ${version}; this worker reads up to ${taskCheckpointVersion})`,
    );
  }
  const parsed = reader.safeParse(stored);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || 'checkpoint'}: ${issue.message}`)
      .join('; ');
    throw invalid(`it does not match checkpoint version ${version ?? 0} (${problems})`);
  }
  return parsed.data;
}

function invalid(reason: string): BatonError {
  return new BatonError(
    'checkpoint_invalid',
    `the task's checkpoint cannot be read: ${reason}. The task was not resumed, so that no step is redone or skipped`,
  );
}
