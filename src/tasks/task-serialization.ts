import { emptyUsage, type TokenUsage } from '../llm/model-client.ts';
import type { ChildRole, TaskOrigin, TaskRecord, TaskStatus } from './task-record.ts';

/** Flat field/value list for HSET. Nulls are stored as empty strings, which Lua can compare. */
export function recordToFields(record: TaskRecord): string[] {
  const fields: Record<string, string> = {
    id: record.id,
    sessionKey: record.sessionKey,
    origin: JSON.stringify(record.origin),
    parentTaskId: record.parentTaskId ?? '',
    depth: String(record.depth),
    role: record.role,
    goal: record.goal,
    context: record.context,
    toolsets: JSON.stringify(record.toolsets),
    route: record.route,
    status: record.status,
    createdAt: String(record.createdAt),
    startedAt: record.startedAt === null ? '' : String(record.startedAt),
    endedAt: record.endedAt === null ? '' : String(record.endedAt),
    steps: String(record.steps),
    usage: JSON.stringify(record.usage),
    summary: record.summary ?? '',
    error: record.error ?? '',
    attempts: String(record.attempts),
    runnerToken: '',
  };
  return Object.entries(fields).flat();
}

function optionalNumber(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

function optionalText(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}

function parseUsage(value: string | undefined): TokenUsage {
  if (!value) return emptyUsage();
  return JSON.parse(value) as TokenUsage;
}

/** Reads a task hash back; null when the hash does not exist. */
export function fieldsToRecord(hash: Record<string, string>): TaskRecord | null {
  if (!hash.id) return null;
  return {
    id: hash.id,
    sessionKey: hash.sessionKey ?? '',
    origin: JSON.parse(hash.origin ?? '{}') as TaskOrigin,
    parentTaskId: optionalText(hash.parentTaskId),
    depth: Number(hash.depth ?? 1),
    role: (hash.role ?? 'leaf') as ChildRole,
    goal: hash.goal ?? '',
    context: hash.context ?? '',
    toolsets: JSON.parse(hash.toolsets ?? '[]') as string[],
    route: hash.route ?? '',
    status: hash.status as TaskStatus,
    createdAt: Number(hash.createdAt ?? 0),
    startedAt: optionalNumber(hash.startedAt),
    endedAt: optionalNumber(hash.endedAt),
    steps: Number(hash.steps ?? 0),
    usage: parseUsage(hash.usage),
    summary: optionalText(hash.summary),
    error: optionalText(hash.error),
    attempts: Number(hash.attempts ?? 0),
  };
}

/** A stream entry's flat field/value list (as XRANGE returns it) as an object. */
export function streamFieldsToObject(fields: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) result[fields[index]!] = fields[index + 1]!;
  return result;
}
