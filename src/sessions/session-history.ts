import type { Redis } from 'ioredis';
import type { ChatMessage } from '../llm/model-client.ts';
import type { Logger } from '../logging/logger.ts';
import { defaultRetentionSeconds } from '../redis/key-lifetimes.ts';
import { loadLuaScript } from '../redis/lua-script.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisScriptRunner } from '../redis/redis-script-runner.ts';
import { type HistoryItem, historyItemSchema, historyItemVersion, parseStored } from './stored-shapes.ts';

const appendOnceScript = loadLuaScript(new URL('./lua/', import.meta.url), 'append-history-once');

type CountTokens = (text: string) => number;

let tokenizer: Promise<CountTokens> | null = null;
/**
 * The tokenizer's tables are some 20 MB of heap: loaded on the first history write, so a process that
 * writes none (a worker) never holds them.
 */
function loadTokenizer(): Promise<CountTokens> {
  tokenizer ??= import('gpt-tokenizer').then((module) => module.countTokens);
  return tokenizer;
}

function tokensOf(message: ChatMessage, countTokens: CountTokens): number {
  const text =
    (message.content ?? '') +
    (message.role === 'assistant' && message.tool_calls ? JSON.stringify(message.tool_calls) : '');
  // A few tokens of per-message framing, as chat formats add.
  return countTokens(text) + 4;
}

async function storedEntries(messages: ChatMessage[]): Promise<string[]> {
  const countTokens = await loadTokenizer();
  return messages.map((message) =>
    JSON.stringify({
      version: historyItemVersion,
      message,
      tokens: tokensOf(message, countTokens),
    } satisfies HistoryItem),
  );
}

/** Where an append is recorded as done, so doing it again is a no-op (a turn record, a delivery's progress). */
export interface AppendRecord {
  key: string;
  field: string;
  /** How long the record is kept (its key family's lifetime). */
  seconds: number;
}

export interface SessionHistoryOptions {
  tokenBudget: number;
  maxMessages: number;
  /** An idle thread's history expires after this long (keyLifetimes.sessionHistory; default 30 days). */
  retentionSeconds?: number;
  /** Warned on a stored item that fails validation (it is skipped). */
  logger?: Logger;
}

/**
 * A thread's conversation with its parent agent, in Redis. Loading returns the newest messages that fit
 * the token budget, starting at a user message so no tool result is ever separated from its call.
 */
export class SessionHistory {
  private readonly scripts: RedisScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly options: SessionHistoryOptions,
  ) {
    this.scripts = new RedisScriptRunner(redis);
  }

  private get retentionSeconds(): number {
    return this.options.retentionSeconds ?? defaultRetentionSeconds;
  }

  async append(sessionKey: string, messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const key = this.keys.sessionHistory(sessionKey);
    const entries = await storedEntries(messages);
    await this.redis
      .multi()
      .rpush(key, ...entries)
      .ltrim(key, -this.options.maxMessages, -1)
      .expire(key, this.retentionSeconds)
      .exec();
  }

  /**
   * Appends once per record (key and field): a retried delivery must not add the same note twice. The
   * check and the append are one atomic script.
   */
  async appendOnce(sessionKey: string, messages: ChatMessage[], record: AppendRecord): Promise<boolean> {
    const entries = await storedEntries(messages);
    const appended = await this.scripts.run<number>(
      appendOnceScript,
      [this.keys.sessionHistory(sessionKey), record.key],
      [record.field, this.options.maxMessages, this.retentionSeconds, record.seconds, ...entries],
    );
    return appended === 1;
  }

  async load(sessionKey: string): Promise<ChatMessage[]> {
    const raw = await this.redis.lrange(this.keys.sessionHistory(sessionKey), 0, -1);
    const stored: HistoryItem[] = [];
    for (const [index, entry] of raw.entries()) {
      const parsed = parseStored(historyItemSchema, entry);
      if (parsed.ok) stored.push(parsed.value);
      // One bad item must not cost the thread its whole context, nor crash the turn.
      else this.options.logger?.warn({ sessionKey, index, reason: parsed.reason }, 'history item skipped');
    }
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
