import { describe, expect, it } from 'vitest';
import {
  assertOutputSchema,
  cachedSchemaCount,
  checkOutput,
  jsonCandidates,
} from '../../src/tasks/output-schema.ts';

const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };

describe('jsonCandidates', () => {
  it('finds JSON alone, fenced, or inside prose', () => {
    expect(jsonCandidates('{"ok": true}')).toEqual([{ ok: true }]);
    expect(jsonCandidates('Result:\n```json\n{"ok": true}\n```')).toContainEqual({ ok: true });
    expect(jsonCandidates('The answer is {"ok": false} as asked.')).toContainEqual({ ok: false });
    expect(jsonCandidates('no json here')).toEqual([]);
  });
});

describe('checkOutput', () => {
  it('accepts the first candidate that matches and reports the errors of the first that does not', () => {
    expect(checkOutput(schema, 'x ```json\n{"ok": "yes"}\n``` then {"ok": true}')).toMatchObject({
      valid: false,
    });
    expect(checkOutput(schema, '```\n{"ok": true}\n```')).toEqual({ valid: true, output: { ok: true } });
    expect(checkOutput(schema, '{"ok": 1}')).toEqual({ valid: false, errors: ['/ok must be boolean'] });
  });
});

describe('assertOutputSchema', () => {
  it('refuses what is not a JSON Schema object', () => {
    expect(() => assertOutputSchema([])).toThrow(/must be a JSON Schema object/);
    expect(() => assertOutputSchema({ type: 'objekt' })).toThrow(/not a valid JSON Schema/);
    expect(() =>
      assertOutputSchema({ type: 'object', properties: { a: { type: 'string', format: 'email' } } }),
    ).not.toThrow();
  });
});

describe('a long-running worker', () => {
  it("keeps no compiled schema per task: Ajv's cache does not grow with the schemas it checked", () => {
    const before = cachedSchemaCount();
    for (let index = 0; index < 200; index += 1) {
      const taskSchema = { type: 'object', properties: { [`field${index}`]: { type: 'string' } } };
      assertOutputSchema(taskSchema);
      checkOutput(taskSchema, '{}');
    }
    expect(cachedSchemaCount()).toBe(before);
  });
});
