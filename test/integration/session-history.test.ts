import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/llm/model-client.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { SessionHistory } from '../../src/sessions/session-history.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

const redis = useTestRedis();

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

describe('session history', () => {
  it('returns the newest turns that fit the token budget, starting at a user message', async () => {
    const keys = new RedisKeys(uniquePrefix());
    const history = new SessionHistory(redis.client, keys, { tokenBudget: 60, maxMessages: 100 });
    const sentence = 'The quick brown fox jumps over the lazy dog.';
    expect(countTokens(sentence)).toBeLessThan(15);
    await history.append('s', [user(`one ${sentence}`), assistant(`two ${sentence}`)]);
    await history.append('s', [
      user(`three ${sentence}`),
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'list_tasks', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: '{"tasks":[]}' },
      assistant(`four ${sentence}`),
    ]);
    // The budget cuts into the second turn's tool exchange. A tool result is never kept without its call,
    // and when even the latest turn is over budget it is kept whole rather than losing all context.
    const loaded = await history.load('s');
    expect(loaded.map((message) => message.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(loaded[0]!.content).toBe(`three ${sentence}`);
    // With room for it, the first turn comes back too.
    const roomy = new SessionHistory(redis.client, keys, { tokenBudget: 1000, maxMessages: 100 });
    expect((await roomy.load('s'))[0]!.content).toBe(`one ${sentence}`);
    // A budget that fits only the last assistant message still starts at that turn's user message.
    const tight = new SessionHistory(redis.client, keys, { tokenBudget: 20, maxMessages: 100 });
    expect((await tight.load('s'))[0]!.content).toBe(`three ${sentence}`);
  });

  it('keeps everything within a generous budget, and caps the stored messages', async () => {
    const history = new SessionHistory(redis.client, new RedisKeys(uniquePrefix()), {
      tokenBudget: 100_000,
      maxMessages: 5,
    });
    for (let index = 0; index < 8; index += 1) await history.append('s', [user(`m${index}`)]);
    expect((await history.load('s')).map((message) => message.content)).toEqual([
      'm3',
      'm4',
      'm5',
      'm6',
      'm7',
    ]);
  });

  it('appends a delivery note once, however often the delivery is retried', async () => {
    const keys = new RedisKeys(uniquePrefix());
    const history = new SessionHistory(redis.client, keys, { tokenBudget: 1000, maxMessages: 100 });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await history.appendOnce('s', [user('[Background task t_abc123 completed]')], {
        key: keys.delivery('t_abc123'),
        field: 'h',
        seconds: 60,
      });
    }
    expect(await history.load('s')).toHaveLength(1);
  });

  it('keeps the record of an append as long as the caller says, not a fixed week', async () => {
    const keys = new RedisKeys(uniquePrefix());
    const history = new SessionHistory(redis.client, keys, { tokenBudget: 1000, maxMessages: 100 });
    await history.appendOnce('s', [user('note')], { key: keys.delivery('t_ttl'), field: 'h', seconds: 60 });
    const ttl = await redis.client.ttl(keys.delivery('t_ttl'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('loads items stored before they had a version, and skips one that fails validation', async () => {
    const keys = new RedisKeys(uniquePrefix());
    const warnings: unknown[] = [];
    const logger = { warn: (details: unknown) => warnings.push(details) } as unknown as Logger;
    const history = new SessionHistory(redis.client, keys, { tokenBudget: 1000, maxMessages: 100, logger });
    // Exactly as the code before versioned state stored them: { message, tokens }.
    await redis.client.rpush(
      keys.sessionHistory('s'),
      JSON.stringify({ message: user('from before the upgrade'), tokens: 9 }),
      'not json at all',
      JSON.stringify({ message: { role: 'robot', content: 'no such role' }, tokens: 3 }),
      JSON.stringify({ message: assistant('answer from before'), tokens: 7 }),
    );
    await history.append('s', [user('after the upgrade')]);
    expect(await history.load('s')).toEqual([
      user('from before the upgrade'),
      assistant('answer from before'),
      user('after the upgrade'),
    ]);
    expect(warnings).toHaveLength(2);
  });
});
