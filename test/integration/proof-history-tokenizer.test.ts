import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/llm/model-client.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { SessionHistory } from '../../src/sessions/session-history.ts';
import { uniquePrefix } from '../support/redis.ts';
import { useTestRedis } from '../support/test-environment.ts';

/*
 * Proof for issue 3, "history trimmed to a token budget with a real tokenizer". The existing test uses
 * English prose, where characters / 4 is close to the token count, so a character estimate would pass it.
 * Here the texts are chosen so a character estimate and a real tokenizer disagree by far.
 */

const redis = useTestRedis();
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

describe('session history token budget', () => {
  it('counts tokens, not characters: keeps a long text of few tokens, drops a short text of many', async () => {
    // 1,200 characters but about 200 tokens: a chars/4 estimate (300) would drop it.
    const cheap = 'hello '.repeat(200).trim();
    // Few characters per token: random-looking symbols tokenize badly.
    const costly = Array.from({ length: 120 }, (_, index) =>
      String.fromCharCode(0x4e00 + ((index * 7919) % 20000)),
    ).join('');
    const latest = 'and now?';
    expect(countTokens(cheap)).toBeLessThan(cheap.length / 5);
    expect(countTokens(costly)).toBeGreaterThan(costly.length / 2);

    // Budget: room for the cheap turn and the latest one by real tokens, not by a character estimate.
    const keysA = new RedisKeys(uniquePrefix());
    const budgetA = countTokens(cheap) + countTokens('ok') + countTokens(latest) + 3 * 4 + 10;
    expect(budgetA).toBeLessThan(cheap.length / 4);
    const historyA = new SessionHistory(redis.client, keysA, { tokenBudget: budgetA, maxMessages: 100 });
    await historyA.append('s', [user(cheap), assistant('ok')]);
    await historyA.append('s', [user(latest)]);
    expect((await historyA.load('s')).map((message) => message.content)).toEqual([cheap, 'ok', latest]);

    // The same character budget, spent on a text of many tokens, does not fit: it is dropped.
    const keysB = new RedisKeys(uniquePrefix());
    const budgetB = costly.length / 4 + countTokens('ok') + countTokens(latest) + 3 * 4 + 10;
    expect(countTokens(costly)).toBeGreaterThan(budgetB);
    const historyB = new SessionHistory(redis.client, keysB, { tokenBudget: budgetB, maxMessages: 100 });
    await historyB.append('s', [user(costly), assistant('ok')]);
    await historyB.append('s', [user(latest)]);
    expect((await historyB.load('s')).map((message) => message.content)).toEqual([latest]);
  });
});
