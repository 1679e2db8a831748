import { z } from 'zod';
import { BatonError } from '../errors.ts';
import { tokenUsageSchema } from '../llm/chat-message-schema.ts';
import { emptyUsage, type TokenUsage } from '../llm/model-client.ts';
import type { OutputSchema } from './output-schema.ts';
import type {
  ChildRole,
  PromptResponse,
  StructuredResult,
  TaskMerge,
  TaskOrigin,
  TaskPromptState,
  TaskRecord,
  TaskStatus,
  TaskWorkspaceChange,
} from './task-record.ts';

/** The JSON fields of a task hash. Loose, so fields a newer release adds to an origin are kept, not dropped. */
const originSchema: z.ZodType<TaskOrigin> = z.looseObject({
  platform: z.string(),
  channel: z.string(),
  thread: z.string(),
  user: z.string(),
  userName: z.string().optional(),
  userRoleIds: z.array(z.string()).optional(),
  workspaceId: z.string().optional(),
  userTrusted: z.boolean().optional(),
  privateThread: z.boolean().optional(),
});
const toolsetsSchema = z.array(z.string());
const outputSchemaSchema: z.ZodType<OutputSchema> = z.record(z.string(), z.unknown());
const structuredSchema: z.ZodType<StructuredResult> = z.object({
  schemaValid: z.boolean(),
  output: z.unknown().optional(),
  errors: z.array(z.string()).optional(),
});
const mergeSchema: z.ZodType<TaskMerge> = z.object({
  by: z.string(),
  at: z.number(),
  into: z.string(),
  commit: z.string(),
});
const changeSchema: z.ZodType<TaskWorkspaceChange> = z.object({
  files: z.number(),
  added: z.number(),
  removed: z.number(),
  branch: z.string().optional(),
});

const promptKind = z.enum(['question', 'approval']);
/** A prompt as the record keeps it, and as the outbox records a settled one. */
export const promptSchema: z.ZodType<TaskPromptState> = z.object({
  round: z.number().int().positive(),
  kind: promptKind,
  callId: z.string(),
  text: z.string(),
  choices: z.array(z.string()),
  action: z.object({ tool: z.string(), arguments: z.string(), workspace: z.string().optional() }).optional(),
  askedAt: z.number(),
  expiresAt: z.number(),
});
/** An answer or a decision, as the record keeps it and as a checkpoint keeps each call's (task-checkpoint.ts). */
export const promptResponseSchema: z.ZodType<PromptResponse> = z.object({
  round: z.number().int().positive(),
  kind: promptKind,
  answer: z.string().optional(),
  approved: z.boolean().optional(),
  reason: z.string().optional(),
  by: z.string().optional(),
  byId: z.string().optional(),
  at: z.number(),
  timedOut: z.boolean().optional(),
});

/**
 * Flat field/value list for HSET. Nulls are stored as empty strings, which Lua can compare. Written out as
 * one array literal: it runs for every task admitted, and `Object.entries(...).flat()` cost several times
 * more.
 */
export function recordToFields(record: TaskRecord): string[] {
  const fields = [
    'id',
    record.id,
    'sessionKey',
    record.sessionKey,
    'origin',
    JSON.stringify(record.origin),
    'parentTaskId',
    record.parentTaskId ?? '',
    'depth',
    String(record.depth),
    'role',
    record.role,
    'goal',
    record.goal,
    'context',
    record.context,
    'toolsets',
    JSON.stringify(record.toolsets),
    'route',
    record.route,
    'status',
    record.status,
    'createdAt',
    String(record.createdAt),
    'startedAt',
    record.startedAt === null ? '' : String(record.startedAt),
    'endedAt',
    record.endedAt === null ? '' : String(record.endedAt),
    'steps',
    String(record.steps),
    'usage',
    JSON.stringify(record.usage),
    'summary',
    record.summary ?? '',
    'error',
    record.error ?? '',
    'attempts',
    String(record.attempts),
    'runnerToken',
    '',
  ];
  // Written only when there is one, so a task without a schema is stored exactly as before.
  if (record.outputSchema) fields.push('outputSchema', JSON.stringify(record.outputSchema));
  if (record.workspace) fields.push('workspace', record.workspace);
  return fields;
}

function optionalNumber(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

function optionalText(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

/** Reads one JSON field of a task hash with its schema; a field that does not match is an error, never a guess. */
function parseField<T>(taskId: string, field: string, value: string, schema: z.ZodType<T>): T {
  let parsed: ReturnType<typeof schema.safeParse>;
  try {
    parsed = schema.safeParse(JSON.parse(value));
  } catch {
    throw invalidField(taskId, field, 'not JSON');
  }
  if (!parsed.success) throw invalidField(taskId, field, parsed.error.issues[0]?.message ?? 'invalid');
  return parsed.data;
}

function invalidField(taskId: string, field: string, reason: string): BatonError {
  return new BatonError(
    'task_record_invalid',
    `task ${taskId}: its stored ${field} cannot be read (${reason})`,
  );
}

function parseUsage(taskId: string, value: string | undefined): TokenUsage {
  if (!value) return emptyUsage();
  return parseField(taskId, 'usage', value, tokenUsageSchema);
}

/** Reads a task hash back; null when the hash does not exist. */
export function fieldsToRecord(hash: Record<string, string>): TaskRecord | null {
  if (!hash.id) return null;
  return {
    id: hash.id,
    sessionKey: hash.sessionKey ?? '',
    origin: parseField(hash.id, 'origin', hash.origin ?? '{}', originSchema),
    parentTaskId: optionalText(hash.parentTaskId),
    depth: Number(hash.depth ?? 1),
    role: (hash.role ?? 'leaf') as ChildRole,
    goal: hash.goal ?? '',
    context: hash.context ?? '',
    toolsets: parseField(hash.id, 'toolsets', hash.toolsets ?? '[]', toolsetsSchema),
    route: hash.route ?? '',
    status: hash.status as TaskStatus,
    createdAt: Number(hash.createdAt ?? 0),
    startedAt: optionalNumber(hash.startedAt),
    endedAt: optionalNumber(hash.endedAt),
    steps: Number(hash.steps ?? 0),
    usage: parseUsage(hash.id, hash.usage),
    summary: optionalText(hash.summary),
    error: optionalText(hash.error),
    attempts: Number(hash.attempts ?? 0),
    ...(hash.outputSchema
      ? { outputSchema: parseField(hash.id, 'outputSchema', hash.outputSchema, outputSchemaSchema) }
      : {}),
    ...(hash.structured
      ? { structured: parseField(hash.id, 'structured', hash.structured, structuredSchema) }
      : {}),
    ...(hash.workspace ? { workspace: hash.workspace } : {}),
    ...(hash.change ? { change: parseField(hash.id, 'change', hash.change, changeSchema) } : {}),
    ...(hash.followUpRound ? { followUpRound: Number(hash.followUpRound) } : {}),
    ...(hash.roundStartSteps ? { roundStartSteps: Number(hash.roundStartSteps) } : {}),
    ...(hash.roundInboxCursor ? { roundInboxCursor: hash.roundInboxCursor } : {}),
    ...(hash.followUpPromptRound ? { followUpPromptRound: Number(hash.followUpPromptRound) } : {}),
    ...(hash.prompt ? { prompt: parseField(hash.id, 'prompt', hash.prompt, promptSchema) } : {}),
    ...(hash.promptResponse
      ? { promptResponse: parseField(hash.id, 'promptResponse', hash.promptResponse, promptResponseSchema) }
      : {}),
    ...(hash.parkedMs ? { parkedMs: Number(hash.parkedMs) } : {}),
    ...(hash.merge ? { merge: parseField(hash.id, 'merge', hash.merge, mergeSchema) } : {}),
  };
}

/** A stream entry's flat field/value list (as XRANGE returns it) as an object. */
export function streamFieldsToObject(fields: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) result[fields[index]!] = fields[index + 1]!;
  return result;
}
