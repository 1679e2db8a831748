import { beforeAll, describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { errorReply, hangReply, type RecordedRequest, textReply } from '../fakes/fake-openai-server.ts';
import { eventually, testCaller } from '../support/baton-harness.ts';
import { type GoalScript, goalOf, messagesOf, systemPromptOf } from '../support/model-scripts.ts';
import { runParentTurn } from '../support/parent-turn.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 12, structured results: `output_schema` on delegate_task entries and delegate_task_async, checked by
 * Ajv at dispatch and on the child's final answer, with exactly one correction turn.
 */

const { fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;

const schema = {
  type: 'object',
  properties: { count: { type: 'integer' }, names: { type: 'array', items: { type: 'string' } } },
  required: ['count', 'names'],
  additionalProperties: false,
};

/**
 * Whether the child is answering its correction turn. Read off the request, not counted: each parent turn
 * installs a fresh script, so a child's calls may be answered by the scripts of two turns.
 */
function isCorrectionTurn(request: RecordedRequest): boolean {
  return String(messagesOf(request).at(-1)?.content ?? '').startsWith('[Answer format check]');
}

const childScripts: Record<string, GoalScript> = {
  'valid first': () => textReply('{"count": 2, "names": ["a", "b"]}'),
  'invalid then valid': (request) =>
    isCorrectionTurn(request)
      ? textReply('Here it is:\n```json\n{"count": 2, "names": ["a", "b"]}\n```\nHope that helps.')
      : textReply('I found two: a and b.'),
  'invalid twice': (request) =>
    isCorrectionTurn(request)
      ? textReply('{"count": "still two", "names": "a,b"}')
      : textReply('{"count": "two"}'),
  'no schema': () => textReply('plain answer'),
  'fails at once': () => errorReply(400, { message: 'bad request' }),
  'hangs until cancelled': () => hangReply(),
};

function requestsFor(goal: string): RecordedRequest[] {
  return fake.requests.filter((request) => goalOf(request) === goal);
}

const turn = (calls: Parameters<typeof runParentTurn>[2]) =>
  runParentTurn(runtime, fake, calls, { childScripts });

beforeAll(async () => {
  runtime = await startRuntime();
  await runtime.startWorker();
});

describe('output_schema', () => {
  it('an answer valid the first time: delegate_task returns output and schema_valid, the child saw the schema', async () => {
    const [result] = await turn([
      { name: 'delegate_task', arguments: { tasks: [{ goal: 'valid first', output_schema: schema }] } },
    ]);
    const [entry] = (result as { results: Array<Record<string, unknown>> }).results;
    expect(entry).toMatchObject({
      status: 'completed',
      output: { count: 2, names: ['a', 'b'] },
      schema_valid: true,
      steps: 1,
    });
    const requests = requestsFor('valid first');
    expect(requests).toHaveLength(1);
    expect(systemPromptOf(requests[0]!)).toContain(JSON.stringify(schema));
  });

  it('invalid then valid: one correction turn carrying the validation errors, then output from the fenced JSON', async () => {
    const [started] = await turn([
      { name: 'delegate_task_async', arguments: { goal: 'invalid then valid', output_schema: schema } },
    ]);
    const taskId = started!.task_id as string;
    const [collected] = await turn([{ name: 'collect_task', arguments: { task_id: taskId, timeout_s: 20 } }]);
    const [checked] = await turn([{ name: 'check_task', arguments: { task_id: taskId } }]);
    expect(collected).toMatchObject({
      status: 'completed',
      output: { count: 2, names: ['a', 'b'] },
      schema_valid: true,
      timed_out: false,
    });
    expect(checked).toMatchObject({
      status: 'completed',
      output: { count: 2, names: ['a', 'b'] },
      schema_valid: true,
    });
    const requests = requestsFor('invalid then valid');
    expect(requests).toHaveLength(2);
    const correction = messagesOf(requests[1]!).at(-1)!;
    expect(correction.role).toBe('user');
    expect(String(correction.content)).toContain('does not match the required JSON Schema');
    expect(String(correction.content)).toContain('no JSON value');
  });

  it('invalid twice: the task completes with schema_valid false, the errors, and its raw text; no third call', async () => {
    const [result] = await turn([
      { name: 'delegate_task', arguments: { tasks: [{ goal: 'invalid twice', output_schema: schema }] } },
    ]);
    const [entry] = (result as { results: Array<Record<string, unknown>> }).results;
    expect(entry).toMatchObject({
      status: 'completed',
      output: null,
      schema_valid: false,
      summary: '{"count": "still two", "names": "a,b"}',
    });
    expect(entry!.schema_errors).toEqual(
      expect.arrayContaining(['/count must be integer', '/names must be array']),
    );
    const requests = requestsFor('invalid twice');
    expect(requests).toHaveLength(2);
    expect(String(messagesOf(requests[1]!).at(-1)!.content)).toContain('/count must be integer');
  });

  it('a schema Ajv cannot compile is refused at dispatch, before anything runs', async () => {
    const before = (await runtime.store.listSession(testCaller().sessionKey)).length;
    const [refused] = await turn([
      {
        name: 'delegate_task_async',
        arguments: { goal: 'never runs', output_schema: { type: 'objekt', properties: 3 } },
      },
    ]);
    expect(String(refused!.error)).toMatch(/^output_schema is not a valid JSON Schema/);
    const [batch] = await turn([
      {
        name: 'delegate_task',
        arguments: {
          tasks: [{ goal: 'never runs either' }, { goal: 'nor this', output_schema: { required: 'count' } }],
        },
      },
    ]);
    expect(String(batch!.error)).toMatch(/^output_schema is not a valid JSON Schema/);
    expect(await runtime.store.listSession(testCaller().sessionKey)).toHaveLength(before);
    expect(requestsFor('never runs')).toHaveLength(0);
    expect(requestsFor('never runs either')).toHaveLength(0);
  });

  it('without a schema the result has its usual shape: no output, no schema_valid', async () => {
    const [result] = await turn([{ name: 'delegate_task', arguments: { tasks: [{ goal: 'no schema' }] } }]);
    const [entry] = (result as { results: Array<Record<string, unknown>> }).results;
    expect(Object.keys(entry!).sort()).toEqual([
      'duration_s',
      'status',
      'steps',
      'summary',
      'task_id',
      'tokens',
    ]);
    expect(systemPromptOf(requestsFor('no schema')[0]!)).not.toContain('Answer format');
  });

  it('a failed or cancelled child gets no correction turn and no schema fields', async () => {
    const [result] = await turn([
      { name: 'delegate_task', arguments: { tasks: [{ goal: 'fails at once', output_schema: schema }] } },
    ]);
    const [entry] = (result as { results: Array<Record<string, unknown>> }).results;
    expect(entry!.status).toBe('failed');
    expect(entry).not.toHaveProperty('schema_valid');
    expect(requestsFor('fails at once')).toHaveLength(1);

    const [started] = await turn([
      { name: 'delegate_task_async', arguments: { goal: 'hangs until cancelled', output_schema: schema } },
    ]);
    const taskId = started!.task_id as string;
    await eventually(async () => (requestsFor('hangs until cancelled').length > 0 ? true : undefined));
    const [cancelled] = await turn([{ name: 'cancel_task', arguments: { task_id: taskId } }]);
    expect(cancelled).toMatchObject({ status: 'cancelled' });
    const [collected] = await turn([{ name: 'collect_task', arguments: { task_id: taskId, timeout_s: 5 } }]);
    expect(collected!.status).toBe('cancelled');
    expect(collected).not.toHaveProperty('schema_valid');
    expect(requestsFor('hangs until cancelled')).toHaveLength(1);
  });
});
