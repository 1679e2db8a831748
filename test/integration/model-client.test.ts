import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatonConfig } from '../../src/config/schema.ts';
import { type BatonError, isBatonError } from '../../src/errors.ts';
import { fingerprintKey } from '../../src/llm/api-key-pool.ts';
import type { ModelRequest } from '../../src/llm/model-client.ts';
import { createOpenAIModelClient, type ModelCallRecord } from '../../src/llm/openai-model-client.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import {
  errorReply,
  type FakeOpenAIServer,
  hangReply,
  malformedReply,
  startFakeOpenAIServer,
  textReply,
  toolCallReply,
} from '../fakes/fake-openai-server.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const firstKey = 'sk-test-first-aaaaaaaaaaaaaaaaaaaa';
const secondKey = 'sk-test-second-bbbbbbbbbbbbbbbbbbb';
const env = { KEY_A: firstKey, KEY_B: secondKey, EMPTY_KEY: '' };

const redis = useTestRedis();
let fake: FakeOpenAIServer;
let keys: RedisKeys;

beforeEach(async () => {
  fake = await startFakeOpenAIServer();
  keys = new RedisKeys(uniquePrefix('model-client'));
});
afterEach(async () => {
  await fake.close();
});

function modelsConfig(overrides: Partial<BatonConfig['models']> = {}): BatonConfig['models'] {
  return {
    default_route: 'default',
    call_timeout_s: 5,
    max_retries: 2,
    retry_base_delay_ms: 10,
    retry_max_delay_ms: 50,
    key_cooldown_s: 60,
    routes: {
      default: { model: 'fake-model', base_url: fake.baseURL, api_key_env: ['EMPTY_KEY', 'KEY_A', 'KEY_B'] },
    },
    ...overrides,
  };
}

function createClient(overrides: Partial<BatonConfig['models']> = {}, calls: ModelCallRecord[] = []) {
  return createOpenAIModelClient({
    models: modelsConfig(overrides),
    redis: redis.client,
    keys,
    env,
    onCall: (record) => calls.push(record),
  });
}

const question: ModelRequest = { messages: [{ role: 'user', content: 'What is new?' }] };

async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isBatonError(error)) throw new Error(`expected a BatonError, got ${String(error)}`);
  return error;
}

describe('OpenAI model client', () => {
  it('returns tool calls and usage, and sends the tools as functions', async () => {
    fake.enqueue(
      toolCallReply(
        [
          { name: 'web_search', arguments: { query: 'baton' }, id: 'call_search' },
          { name: 'fetch_url', arguments: '{"url": "https://exa', id: 'call_fetch' },
        ],
        { usage: { prompt_tokens: 11, completion_tokens: 7 } },
      ),
    );
    const calls: ModelCallRecord[] = [];
    const client = createClient({}, calls);
    const tool = {
      name: 'web_search',
      description: 'Searches the web.',
      parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
    };

    const response = await client.complete({ ...question, tools: [tool] });

    expect(response.message).toEqual({
      role: 'assistant',
      content: null,
      tool_calls: [
        {
          id: 'call_search',
          type: 'function',
          function: { name: 'web_search', arguments: '{"query":"baton"}' },
        },
        {
          id: 'call_fetch',
          type: 'function',
          function: { name: 'fetch_url', arguments: '{"url": "https://exa' },
        },
      ],
    });
    expect(response.finish_reason).toBe('tool_calls');
    expect(response.usage).toEqual({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
    expect(response.model).toBe('fake-model');
    expect(response.latency_ms).toBeGreaterThanOrEqual(0);

    const [request] = fake.requests;
    expect(request?.authorization).toBe(`Bearer ${firstKey}`);
    expect(request?.body?.model).toBe('fake-model');
    expect(request?.body?.messages).toEqual(question.messages);
    expect(request?.body?.tools).toEqual([
      {
        type: 'function',
        function: { name: tool.name, description: tool.description, parameters: tool.parameters },
      },
    ]);
    expect(calls).toEqual([
      expect.objectContaining({
        route: 'default',
        model: 'fake-model',
        outcome: 'ok',
        status: 200,
        attempts: 1,
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
      }),
    ]);
  });

  it('omits tools when there are none, and reports zero usage when the server sends none', async () => {
    fake.enqueue(textReply('Nothing new.', { usage: null }));
    const response = await createClient().complete({ ...question, tools: [] });
    expect(response.message).toEqual({ role: 'assistant', content: 'Nothing new.' });
    expect(response.finish_reason).toBe('stop');
    expect(response.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    expect(fake.requests[0]?.body).not.toHaveProperty('tools');
  });

  it('on 429 cools the key down in Redis and retries at once with the next key; other workers skip it', async () => {
    fake.enqueue(errorReply(429, { headers: { 'retry-after-ms': '5000' } }), textReply('second key worked'));
    const calls: ModelCallRecord[] = [];
    const startedAt = Date.now();
    const response = await createClient(
      { retry_base_delay_ms: 2000, retry_max_delay_ms: 2000 },
      calls,
    ).complete(question);

    expect(response.message.content).toBe('second key worked');
    // Rotating to a free key does not wait for the backoff or the retry-after.
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(fake.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${firstKey}`,
      `Bearer ${secondKey}`,
    ]);
    expect(calls[0]).toMatchObject({ outcome: 'ok', attempts: 2 });

    const cooldownKey = keys.modelKeyCooldown('default', fingerprintKey(firstKey));
    const remaining = await redis.client.pttl(cooldownKey);
    expect(remaining).toBeGreaterThan(3000);
    expect(remaining).toBeLessThanOrEqual(5000);
    const stored = await redis.client.keys(`${keys.prefix}:*`);
    expect(stored).toEqual([cooldownKey]);
    expect(stored.join(' ')).not.toContain(firstKey);

    // Another worker process: its own client instance, the same Redis.
    fake.enqueue(textReply('from the other worker'));
    const otherWorker = createClient();
    await otherWorker.complete(question);
    expect(fake.requests[2]?.authorization).toBe(`Bearer ${secondKey}`);
  });

  it('waits for the shortest cool-down when every key is cooling', async () => {
    fake.enqueue(
      errorReply(429, { headers: { 'retry-after-ms': '300' } }),
      errorReply(429, { headers: { 'retry-after-ms': '150' } }),
      textReply('after the wait'),
    );
    const startedAt = Date.now();
    const response = await createClient({ retry_max_delay_ms: 5000 }).complete(question);
    const elapsed = Date.now() - startedAt;

    expect(response.message.content).toBe('after the wait');
    expect(fake.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${firstKey}`,
      `Bearer ${secondKey}`,
      `Bearer ${secondKey}`,
    ]);
    expect(elapsed).toBeGreaterThanOrEqual(120);
    expect(elapsed).toBeLessThan(2000);
    // The key that answered is usable again at once for everyone.
    expect(await redis.client.exists(keys.modelKeyCooldown('default', fingerprintKey(secondKey)))).toBe(0);
  });

  it('gives up with model_rate_limited when 429s outlast the retries', async () => {
    fake.setHandler(() => errorReply(429, { headers: { 'retry-after-ms': '5' } }));
    const calls: ModelCallRecord[] = [];
    const error = await rejection(createClient({ max_retries: 2 }, calls).complete(question));
    expect(error.code).toBe('model_rate_limited');
    expect(error.fault).toBe('platform');
    expect(fake.requests).toHaveLength(3);
    expect(calls).toEqual([
      expect.objectContaining({ outcome: 'model_rate_limited', status: 429, attempts: 3 }),
    ]);
  });

  it('backs off and retries after a 500', async () => {
    fake.enqueue(errorReply(500), textReply('recovered'));
    const calls: ModelCallRecord[] = [];
    const response = await createClient({}, calls).complete(question);
    expect(response.message.content).toBe('recovered');
    expect(fake.requests).toHaveLength(2);
    // A 5xx says nothing about the key: the same key is used again.
    expect(fake.requests[1]?.authorization).toBe(`Bearer ${firstKey}`);
    expect(calls[0]).toMatchObject({ outcome: 'ok', attempts: 2 });
  });

  it('retries a call that hangs past call_timeout_s', async () => {
    fake.enqueue(hangReply(), textReply('second attempt answered'));
    const startedAt = Date.now();
    const response = await createClient({ call_timeout_s: 0.3 }).complete(question);
    expect(response.message.content).toBe('second attempt answered');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(280);
    expect(fake.requests).toHaveLength(2);
    await expect.poll(() => fake.requests[0]?.aborted).toBe(true);
    expect(fake.requests[1]?.aborted).toBe(false);
  });

  it('fails with model_timeout when every attempt hangs', async () => {
    fake.setHandler(() => hangReply());
    const calls: ModelCallRecord[] = [];
    const error = await rejection(
      createClient({ call_timeout_s: 0.2, max_retries: 1 }, calls).complete(question),
    );
    expect(error.code).toBe('model_timeout');
    expect(error.message).toMatch(/timed out/);
    expect(fake.requests).toHaveLength(2);
    expect(calls).toEqual([expect.objectContaining({ outcome: 'model_timeout', attempts: 2 })]);
  });

  it('stops at once on the caller abort, closing the in-flight request', async () => {
    fake.setHandler(() => hangReply());
    const controller = new AbortController();
    const calls: ModelCallRecord[] = [];
    const pending = rejection(createClient({}, calls).complete({ ...question, signal: controller.signal }));
    await fake.waitForRequests(1);

    const abortedAt = Date.now();
    controller.abort();
    const error = await pending;

    expect(error.code).toBe('aborted');
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    await expect.poll(() => fake.requests[0]?.aborted).toBe(true);
    expect(fake.requests).toHaveLength(1);
    expect(calls).toEqual([expect.objectContaining({ outcome: 'aborted', attempts: 1 })]);
  });

  it('stops at once on the caller abort during a retry wait', async () => {
    fake.setHandler(() => errorReply(503));
    const controller = new AbortController();
    const client = createClient({ retry_base_delay_ms: 20_000, retry_max_delay_ms: 20_000 });
    const pending = rejection(client.complete({ ...question, signal: controller.signal }));
    await fake.waitForRequests(1);
    // Let the client see the 503 and start sleeping.
    await new Promise((resolve) => setTimeout(resolve, 50));

    const abortedAt = Date.now();
    controller.abort();
    const error = await pending;
    expect(error.code).toBe('aborted');
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects an already aborted signal without a request', async () => {
    const error = await rejection(createClient().complete({ ...question, signal: AbortSignal.abort() }));
    expect(error.code).toBe('aborted');
    expect(fake.requests).toHaveLength(0);
  });

  it('does not retry a 400, and never puts the key in the message', async () => {
    fake.enqueue(errorReply(400, { message: `Invalid request sent with key ${firstKey}` }));
    const calls: ModelCallRecord[] = [];
    const error = await rejection(createClient({}, calls).complete(question));
    expect(error.code).toBe('model_request_failed');
    expect(error.fault).toBe('platform');
    expect(error.message).toContain('400');
    expect(error.message).not.toContain(firstKey);
    expect(fake.requests).toHaveLength(1);
    expect(calls).toEqual([expect.objectContaining({ outcome: 'model_request_failed', status: 400 })]);
  });

  it('retries a 200 whose body is not JSON or not a chat completion', async () => {
    // Not JSON; then JSON that is not a chat completion; then a proper answer.
    fake.enqueue(malformedReply(), errorReply(200, { body: { choices: [] } }), textReply('whole again'));
    const response = await createClient().complete(question);
    expect(response.message.content).toBe('whole again');
    expect(fake.requests).toHaveLength(3);
  });

  it('fails with model_request_failed when every answer is malformed', async () => {
    fake.setHandler(() => malformedReply());
    const error = await rejection(createClient({ max_retries: 1 }).complete(question));
    expect(error.code).toBe('model_request_failed');
    expect(error.message).toContain('malformed');
    expect(fake.requests).toHaveLength(2);
  });

  it('rejects an unknown route as the user’s fault', async () => {
    const error = await rejection(createClient().complete({ ...question, route: 'nowhere' }));
    expect(error.code).toBe('unknown_route');
    expect(error.fault).toBe('user');
    expect(error.message).toContain('nowhere');
  });

  it('asks for OPENAI_API_KEY when a route to OpenAI has no key', async () => {
    const client = createClient({
      routes: { default: { model: 'gpt-5-mini', base_url: null, api_key_env: ['OPENAI_API_KEY'] } },
    });
    const error = await rejection(client.complete(question));
    expect(error.code).toBe('model_missing_key');
    expect(error.message).toContain('OPENAI_API_KEY');
  });

  it('calls a keyless local endpoint with a placeholder key', async () => {
    fake.enqueue(textReply('local model here'));
    const client = createClient({
      routes: { default: { model: 'llama', base_url: fake.baseURL, api_key_env: ['UNSET_LOCAL_KEY'] } },
    });
    const response = await client.complete(question);
    expect(response.message.content).toBe('local model here');
    expect(fake.requests[0]?.authorization).toMatch(/^Bearer \S+/);
    expect(fake.requests[0]?.body?.model).toBe('llama');
  });

  it('uses the route named in the request', async () => {
    fake.enqueue(textReply('from the big model'));
    const client = createClient({
      routes: {
        default: { model: 'fake-model', base_url: fake.baseURL, api_key_env: ['KEY_A'] },
        large: { model: 'fake-model-large', base_url: fake.baseURL, api_key_env: ['KEY_B'] },
      },
    });
    const response = await client.complete({ ...question, route: 'large' });
    expect(response.model).toBe('fake-model-large');
    expect(fake.requests[0]?.authorization).toBe(`Bearer ${secondKey}`);
  });
});

describe('OpenAI model client, streamed (onText)', () => {
  it('asks for a stream with usage, reports the text as it grows, and answers exactly as unstreamed', async () => {
    const content = 'The quick brown fox jumps over the lazy dog, twice over.';
    fake.enqueue(
      textReply(content, { usage: { prompt_tokens: 7, completion_tokens: 11 }, streamPieceChars: 5 }),
    );
    const seen: string[] = [];
    const calls: ModelCallRecord[] = [];
    const response = await createClient({}, calls).complete({
      ...question,
      onText: (text) => seen.push(text),
    });
    expect(fake.requests[0]?.body?.stream).toBe(true);
    expect(fake.requests[0]?.body?.stream_options).toEqual({ include_usage: true });
    expect(response.message.content).toBe(content);
    expect(response.usage).toEqual({ prompt_tokens: 7, completion_tokens: 11, total_tokens: 18 });
    expect(calls[0]?.usage.total_tokens).toBe(18);
    expect(seen.length).toBe(Math.ceil(content.length / 5));
    expect(seen.at(-1)).toBe(content);
    for (let index = 1; index < seen.length; index += 1)
      expect(seen[index]!.startsWith(seen[index - 1]!)).toBe(true);
  });

  it('assembles streamed tool calls whole before answering, and reports no text for them', async () => {
    fake.enqueue(
      toolCallReply(
        [
          { name: 'web_search', arguments: { query: 'redis streams' }, id: 'call_1' },
          { name: 'fetch_url', arguments: { url: 'https://example.com/a' }, id: 'call_2' },
        ],
        { streamPieceChars: 4 },
      ),
    );
    const seen: string[] = [];
    const response = await createClient().complete({ ...question, onText: (text) => seen.push(text) });
    expect(seen).toEqual([]);
    expect(response.finish_reason).toBe('tool_calls');
    expect(response.message.content).toBeNull();
    expect(response.message.tool_calls).toEqual([
      {
        id: 'call_1',
        type: 'function',
        function: { name: 'web_search', arguments: '{"query":"redis streams"}' },
      },
      {
        id: 'call_2',
        type: 'function',
        function: { name: 'fetch_url', arguments: '{"url":"https://example.com/a"}' },
      },
    ]);
  });

  it('retries a stream that fails before answering, and starts its text again', async () => {
    fake.enqueue(errorReply(500), textReply('second try', { streamPieceChars: 3 }));
    const seen: string[] = [];
    const response = await createClient().complete({ ...question, onText: (text) => seen.push(text) });
    expect(response.message.content).toBe('second try');
    expect(seen[0]).toBe('sec');
  });
});

describe('fake OpenAI server streaming, through the real SDK parser', () => {
  it('streams text and usage', async () => {
    fake.enqueue(textReply('Hello from the stream.', { usage: { prompt_tokens: 3, completion_tokens: 5 } }));
    const sdk = new OpenAI({ apiKey: firstKey, baseURL: fake.baseURL, maxRetries: 0 });
    const stream = await sdk.chat.completions.create({
      model: 'fake-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    const finishReasons: string[] = [];
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.choices[0]?.finish_reason) finishReasons.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from the stream.');
    expect(finishReasons).toEqual(['stop']);
    expect(usage).toEqual({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
  });

  it('streams tool calls the SDK stream helper assembles', async () => {
    fake.enqueue(
      toolCallReply([
        { name: 'web_search', arguments: { query: 'redis streams' }, id: 'call_1' },
        { name: 'fetch_url', arguments: { url: 'https://example.com/a' }, id: 'call_2' },
      ]),
    );
    const sdk = new OpenAI({ apiKey: firstKey, baseURL: fake.baseURL, maxRetries: 0 });
    const stream = sdk.chat.completions.stream({
      model: 'fake-model',
      messages: [{ role: 'user', content: 'search' }],
      tools: [{ type: 'function', function: { name: 'web_search', parameters: { type: 'object' } } }],
      stream_options: { include_usage: true },
    });
    const completion = await stream.finalChatCompletion();
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.tool_calls).toEqual([
      {
        id: 'call_1',
        type: 'function',
        function: { name: 'web_search', arguments: '{"query":"redis streams"}' },
      },
      {
        id: 'call_2',
        type: 'function',
        function: { name: 'fetch_url', arguments: '{"url":"https://example.com/a"}' },
      },
    ]);
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    expect(fake.requests[0]?.body?.stream).toBe(true);
  });

  it('lists models and answers unknown paths with 404', async () => {
    const sdk = new OpenAI({ apiKey: firstKey, baseURL: fake.baseURL, maxRetries: 0 });
    const models = [];
    for await (const model of sdk.models.list()) models.push(model.id);
    expect(models).toContain('fake-model');
    const response = await fetch(`${fake.baseURL}/nothing-here`);
    expect(response.status).toBe(404);
  });
});
