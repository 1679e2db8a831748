import { countTokens } from 'gpt-tokenizer';
import type { Redis } from 'ioredis';
import type { ChatMessage } from '../llm/model-client.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';

interface StoredMessage {
  message: ChatMessage;
  /** Counted once when stored, so loading never re-tokenizes the whole history. */
  tokens: number;
}

function tokensOf(message: ChatMessage): number {
  const text =
    (message.content ?? '') +
    (message.role === 'assistant' && message.tool_calls ? JSON.stringify(message.tool_calls) : '');
  // A few tokens of per-message framing, as chat formats add.
  return countTokens(text) + 4;
}

function storedEntries(messages: ChatMessage[]): string[] {
  return messages.map((message) =>
    JSON.stringify({ message, tokens: tokensOf(message) } satisfies StoredMessage),
  );
}

const appendOnceScript = `
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], 604800)
for index = 4, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[index]) end
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

/**
 * A thread's conversation with its parent agent, in Redis. Loading returns the newest messages that fit
 * the token budget, starting at a user message so no tool result is ever separated from its call.
 */
export class SessionHistory {
  private readonly scripts: RedisScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly options: { tokenBudget: number; maxMessages: number; retentionSeconds?: number },
  ) {
    this.scripts = new RedisScriptRunner(redis);
  }

  /** An idle thread's history expires after this long (default 30 days). */
  private get retentionSeconds(): number {
    return this.options.retentionSeconds ?? 30 * 24 * 3600;
  }

  async append(sessionKey: string, messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const key = this.keys.sessionHistory(sessionKey);
    const entries = storedEntries(messages);
    await this.redis
      .multi()
      .rpush(key, ...entries)
      .ltrim(key, -this.options.maxMessages, -1)
      .expire(key, this.retentionSeconds)
      .exec();
  }

  /**
   * Appends once per (onceKey, onceField): a retried delivery must not add the same note twice. The
   * check and the append are one atomic script.
   */
  async appendOnce(
    sessionKey: string,
    messages: ChatMessage[],
    onceKey: string,
    onceField: string,
  ): Promise<boolean> {
    const entries = storedEntries(messages);
    const appended = await this.scripts.run<number>(
      appendOnceScript,
      [this.keys.sessionHistory(sessionKey), onceKey],
      [onceField, this.options.maxMessages, this.retentionSeconds, ...entries],
    );
    return appended === 1;
  }

  async load(sessionKey: string): Promise<ChatMessage[]> {
    const raw = await this.redis.lrange(this.keys.sessionHistory(sessionKey), 0, -1);
    const stored = raw.map((entry) => JSON.parse(entry) as StoredMessage);
    let budget = this.options.tokenBudget;
    let start = stored.length;
    for (let index = stored.length - 1; index >= 0; index -= 1) {
      budget -= stored[index]!.tokens;
      if (budget < 0) break;
      start = index;
    }
    // Begin at a user message: a trimmed history must not open with a tool result or a dangling call.
    while (start < stored.length && stored[start]!.message.role !== 'user') start += 1;
    if (start === stored.length) {
      // The latest turn alone is over the budget: keep that turn whole rather than no context at all.
      start = stored.findLastIndex((entry) => entry.message.role === 'user');
      if (start < 0) return [];
    }
    return stored.slice(start).map((entry) => entry.message);
  }
}
