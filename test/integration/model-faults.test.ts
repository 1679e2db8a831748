import { describe, expect, it } from 'vitest';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import {
  errorReply,
  hangReply,
  malformedReply,
  type RecordedRequest,
  textReply,
  toolCallReply,
} from '../fakes/fake-openai-server.ts';
import { buildTestConfig, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const environment = useTestEnvironment({ clearScriptAfterEach: true });
const { fake } = environment;
let runtime: BatonRuntime;
const caller = testCaller();
const keys = { KEY_ONE: 'sk-first-key-aaaaaaaaaaaaaaaa', KEY_TWO: 'sk-second-key-bbbbbbbbbbbbbbb' };

async function startRuntime(overrides: unknown = {}): Promise<void> {
  const config = buildTestConfig(testConfigLayer(fake, overrides));
  config.models.routes.default!.api_key_env = ['KEY_ONE', 'KEY_TWO'];
  runtime = await environment.startRuntime(config, keys);
  await runtime.startWorker();
}

const requestsFor = (goal: string): RecordedRequest[] =>
  fake.requests.filter((request) => goalOf(request) === goal);
const toolMessages = (request: RecordedRequest) =>
  messagesOf(request)
    .filter((message) => message.role === 'tool')
    .map((message) => String(message.content));

async function runChild(goal: string) {
  const [task] = await runtime.service.dispatch(caller, [{ goal }]);
  const { records } = await runtime.service.waitForEnd([task!.id], 20_000);
  return records[0]!;
}

describe('model faults in a child', () => {
  it('returns invalid JSON arguments and unknown tools to the model as errors and goes on', async () => {
    await startRuntime();
    fake.setHandler(
      scriptByGoal({
        'bad calls': (_request, call) =>
          call === 1
            ? toolCallReply([
                { name: 'list_tasks', arguments: '{"status": ' },
                { name: 'rm_rf', arguments: {} },
              ])
            : textReply('recovered'),
      }),
    );
    const record = await runChild('bad calls');
    expect(record.status).toBe('completed');
    const [first, second] = toolMessages(requestsFor('bad calls')[1]!);
    expect(JSON.parse(first!).error).toMatch(/unknown tool "list_tasks"|not valid JSON/);
    expect(JSON.parse(second!).error).toMatch(/unknown tool "rm_rf"/);
  });

  it('rotates to the next key of the pool on 429 and succeeds', async () => {
    await startRuntime();
    fake.setHandler(
      scriptByGoal({
        'rate limited': (_request, call) =>
          call === 1
            ? errorReply(429, { headers: { 'retry-after-ms': '50' } })
            : textReply('after the limit'),
      }),
    );
    const record = await runChild('rate limited');
    expect(record.status).toBe('completed');
    expect(requestsFor('rate limited').map((request) => request.authorization)).toEqual([
      `Bearer ${keys.KEY_ONE}`,
      `Bearer ${keys.KEY_TWO}`,
    ]);
  });

  it('retries a 500 and a malformed body, then succeeds', async () => {
    await startRuntime();
    fake.setHandler(
      scriptByGoal({
        flaky: (_request, call) =>
          call === 1 ? errorReply(500) : call === 2 ? malformedReply() : textReply('steady now'),
      }),
    );
    const record = await runChild('flaky');
    expect(record.status).toBe('completed');
    expect(record.summary).toBe('steady now');
    expect(requestsFor('flaky')).toHaveLength(3);
  });

  it('times out a hung call, retries it, and fails the task clearly when every attempt hangs', async () => {
    await startRuntime({ models: { call_timeout_s: 0.3, max_retries: 1 } });
    fake.setHandler(
      scriptByGoal({
        'hangs once': (_request, call) => (call === 1 ? hangReply() : textReply('second try worked')),
        'always hangs': () => hangReply(),
      }),
    );
    const once = await runChild('hangs once');
    expect(once.status).toBe('completed');
    expect(requestsFor('hangs once')[0]!.aborted).toBe(true);
    const always = await runChild('always hangs');
    expect(always.status).toBe('failed');
    expect(always.error).toMatch(/timed out|time-out|timeout/i);
    expect(requestsFor('always hangs')).toHaveLength(2);
  });
});
