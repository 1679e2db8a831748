import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { BatonError, describeError } from '../errors.ts';

/*
 * `output_schema`: the JSON Schema a caller asks a child's final answer to match. Checked with Ajv (a
 * well-kept validator), never by hand: once when the task is dispatched (a schema Ajv cannot compile is
 * refused before anything runs), and on the child's final answer.
 */

/** A JSON Schema object, as the caller wrote it. */
export type OutputSchema = Record<string, unknown>;

/** Longest schema accepted, in characters of JSON: it travels in the task record and in every check. */
export const maxOutputSchemaChars = 20_000;
/** Most validation errors reported (to the child in its correction turn, and in the result). */
const maxReportedErrors = 10;

// strict: false, because model-written schemas carry keywords Ajv does not know (titles in odd places,
// `examples`); those are ignored, while a schema that breaks the meta-schema is still refused.
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats.default(ajv);

/**
 * Compiles a schema and drops it from Ajv's cache at once: each task brings its own, and the cache (keyed
 * by schema object) would otherwise keep every one a long-running worker has seen.
 */
function compile(schema: OutputSchema): ValidateFunction {
  const { $id: _ignored, ...withoutId } = schema;
  try {
    return ajv.compile(withoutId);
  } finally {
    ajv.removeSchema(withoutId);
  }
}

/** How many compiled schemas Ajv holds (a test checks that checking outputs does not grow it). */
export function cachedSchemaCount(): number {
  return (ajv as unknown as { _cache: Map<unknown, unknown> })._cache.size;
}

/** Refuses what is not a usable JSON Schema object, saying why, so the model can correct its call. */
export function assertOutputSchema(schema: unknown): asserts schema is OutputSchema {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw invalidSchema('it must be a JSON Schema object, e.g. {"type": "object", "properties": {…}}');
  }
  if (JSON.stringify(schema).length > maxOutputSchemaChars) {
    throw invalidSchema(`it is longer than ${maxOutputSchemaChars} characters of JSON`);
  }
  try {
    compile(schema as OutputSchema);
  } catch (error) {
    throw invalidSchema(describeError(error));
  }
}

function invalidSchema(reason: string): BatonError {
  return new BatonError('output_schema_invalid', `output_schema is not a valid JSON Schema: ${reason}`, {
    fault: 'model',
  });
}

/** How a final answer measured against its schema. */
export type OutputCheck = { valid: true; output: unknown } | { valid: false; errors: string[] };

/**
 * Finds the JSON in a final answer and validates it. The answer may be the JSON alone, or JSON fenced
 * (```json … ```) or surrounded by prose: each candidate is tried, and the first that matches wins.
 */
export function checkOutput(schema: OutputSchema, text: string): OutputCheck {
  const validate = compile(schema);
  const candidates = jsonCandidates(text);
  if (candidates.length === 0) {
    return { valid: false, errors: ['the answer holds no JSON value; reply with JSON matching the schema'] };
  }
  let firstErrors: string[] | null = null;
  for (const candidate of candidates) {
    if (validate(candidate)) return { valid: true, output: candidate };
    firstErrors ??= describeErrors(validate.errors ?? []);
  }
  return { valid: false, errors: firstErrors ?? [] };
}

function describeErrors(errors: ErrorObject[]): string[] {
  const described = errors
    .slice(0, maxReportedErrors)
    .map((error) => `${error.instancePath || '(the whole value)'} ${error.message ?? 'is invalid'}`.trim());
  if (errors.length > maxReportedErrors) described.push(`… and ${errors.length - maxReportedErrors} more`);
  return described;
}

const fencePattern = /```[a-zA-Z]*\s*\n([\s\S]*?)\n?```/g;

/** The JSON values a text may hold, most likely first: all of it, each fenced block, the outermost braces. */
export function jsonCandidates(text: string): unknown[] {
  const sources = [text.trim()];
  for (const match of text.matchAll(fencePattern)) sources.push(match[1]!.trim());
  for (const [open, close] of [
    ['{', '}'],
    ['[', ']'],
  ] as const) {
    const start = text.indexOf(open);
    const end = text.lastIndexOf(close);
    if (start !== -1 && end > start) sources.push(text.slice(start, end + 1));
  }
  const values: unknown[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    if (source === '' || seen.has(source)) continue;
    seen.add(source);
    try {
      values.push(JSON.parse(source));
    } catch {
      // Not JSON: the next candidate may be.
    }
  }
  return values;
}
