import type { Redis } from 'ioredis';
import { customAlphabet } from 'nanoid';
import type { TaskBoardView, TaskPrompt } from '../../src/gateway/chat-adapter.ts';
import { cutText, oneLine } from '../../src/text/cut-text.ts';
import { consoleScript, runConsoleScript } from './console-scripts.ts';

/** A console thread: one conversation (one parent session) in the console's channel. */
export interface ConsoleThread {
  id: string;
  title: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Last appended entry, in milliseconds since the epoch; the thread list is ordered by it. */
  updatedAt: number;
  /** Put away by the person: listed under "Archived", still readable, and back on the next message. */
  archived: boolean;
  /** Oldest entries dropped to keep the thread within its cap (maxEntriesPerThread). */
  dropped: number;
}

/** What happened to a message a person sent: shown under it on the page. */
export type UserEntryState = 'sending' | 'received' | 'queued' | 'refused' | 'failed';

/** One line of a thread's transcript; `board` entries carry a live task board instead of text. */
export interface TranscriptEntry {
  id: string;
  role: 'user' | 'bot' | 'board' | 'prompt';
  /** Markdown; for a board or a prompt, the fallback text. */
  text: string;
  board?: TaskBoardView;
  /** A child's question or approval request, drawn with its buttons. */
  prompt?: TaskPrompt;
  /** Milliseconds since the epoch, when first posted. */
  at: number;
  /** Set when the entry was replaced; milliseconds since the epoch. */
  editedAt?: number;
  /** How many times the entry was replaced (streamed or edited): the page keeps the highest it has seen. */
  revision?: number;
  state?: UserEntryState;
  /** A short explanation of `state`, e.g. `2 ahead` or a refusal. */
  note?: string;
  /** A chat command typed in the message box, or the command router's answer to one (no model call). */
  command?: boolean;
  /** An answer meant only for the person who asked (a refusal, a personal status), shown as a note. */
  ephemeral?: boolean;
}

/** Carried over Redis pub/sub so every gateway process's browsers see the same thing. */
export type ConsoleEvent =
  | {
      type: 'transcript';
      op: 'append' | 'edit' | 'remove';
      threadId: string;
      entry: TranscriptEntry;
      thread: ConsoleThread | null;
    }
  | { type: 'typing'; threadId: string }
  | { type: 'thread'; thread: ConsoleThread };

export const consoleThreadIdPattern = /^[a-z0-9]{6,24}$/;
const newThreadId = customAlphabet('23456789abcdefghjkmnpqrstuvwxyz', 8);
const newEntryId = customAlphabet('23456789abcdefghjkmnpqrstuvwxyz', 12);
export const defaultThreadTitle = 'New thread';

const appendScript = consoleScript('append-entry');
const replaceScript = consoleScript('replace-entry');
const removeScript = consoleScript('remove-entry');

/** Where the console keeps its threads and how long they live. */
export interface ConsoleStorage {
  /** Commands and publishes (the subscription has a connection of its own). */
  redis: Redis;
  /** Baton's key prefix (redis.key_prefix): the console's keys are `<keyPrefix>:console:…`. */
  keyPrefix: string;
  /** A thread idle this long (seconds) expires, as thread histories do (redis.retention_days). */
  retentionSeconds: number;
  /** How long a post's idempotency key is remembered (seconds): a retry within it appends nothing more. */
  requestRecordSeconds: number;
}

export interface ConsoleStoreOptions extends ConsoleStorage {
  /** Entries kept per thread; older ones are dropped. Default 500. */
  maxEntriesPerThread?: number;
}

/** Console threads and transcripts in Redis, shared by every gateway process, plus the event channel. */
export class ConsoleStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly maxEntries: number;
  private readonly retentionSeconds: number;
  private readonly requestRecordSeconds: number;

  constructor(options: ConsoleStoreOptions) {
    this.redis = options.redis;
    this.prefix = `${options.keyPrefix}:console`;
    this.maxEntries = options.maxEntriesPerThread ?? 500;
    this.retentionSeconds = options.retentionSeconds;
    this.requestRecordSeconds = options.requestRecordSeconds;
  }

  /** Pub/sub channel of ConsoleEvent JSON. */
  eventChannel(): string {
    return `${this.prefix}:events`;
  }
  private threadIndexKey(): string {
    return `${this.prefix}:threads`;
  }
  private threadKey(threadId: string): string {
    return `${this.prefix}:thread:${threadId}`;
  }
  private orderKey(threadId: string): string {
    return `${this.prefix}:thread:${threadId}:order`;
  }
  private entriesKey(threadId: string): string {
    return `${this.prefix}:thread:${threadId}:entries`;
  }

  async createThread(title?: string): Promise<ConsoleThread> {
    const now = Date.now();
    const thread: ConsoleThread = {
      id: newThreadId(),
      title: title ?? defaultThreadTitle,
      createdAt: now,
      updatedAt: now,
      archived: false,
      dropped: 0,
    };
    await this.redis
      .multi()
      .hset(this.threadKey(thread.id), {
        id: thread.id,
        title: thread.title,
        createdAt: String(now),
        updatedAt: String(now),
        autoTitle: title ? '0' : '1',
      })
      .expire(this.threadKey(thread.id), this.retentionSeconds)
      .zadd(this.threadIndexKey(), now, thread.id)
      .exec();
    await this.publish({ type: 'thread', thread });
    return thread;
  }

  async getThread(threadId: string): Promise<ConsoleThread | null> {
    if (!consoleThreadIdPattern.test(threadId)) return null;
    return toThread(await this.redis.hgetall(this.threadKey(threadId)));
  }

  /** Gives a thread the person's own title (a later first message no longer renames it); null if unknown. */
  async renameThread(threadId: string, title: string): Promise<ConsoleThread | null> {
    return this.changeThread(threadId, { title, autoTitle: '0' });
  }

  /** Archives a thread or brings it back; null if unknown. */
  async setArchived(threadId: string, archived: boolean): Promise<ConsoleThread | null> {
    return this.changeThread(threadId, { archived: archived ? '1' : '0' });
  }

  private async changeThread(
    threadId: string,
    fields: Record<string, string>,
  ): Promise<ConsoleThread | null> {
    if (!(await this.getThread(threadId))) return null;
    const replies = await this.redis
      .multi()
      .hset(this.threadKey(threadId), fields)
      .expire(this.threadKey(threadId), this.retentionSeconds)
      .hgetall(this.threadKey(threadId))
      .exec();
    const thread = toThread((replies?.[2]?.[1] ?? {}) as Record<string, string>);
    if (thread) await this.publish({ type: 'thread', thread });
    return thread;
  }

  /** Threads by last activity, newest first. */
  async listThreads(limit = 100): Promise<ConsoleThread[]> {
    // Threads idle for the retention period have expired: their ids leave the index here.
    const cutoff = Date.now() - this.retentionSeconds * 1000;
    const indexReplies = await this.redis
      .multi()
      .zremrangebyscore(this.threadIndexKey(), '-inf', `(${cutoff}`)
      .zrevrange(this.threadIndexKey(), 0, limit - 1)
      .exec();
    const ids = (indexReplies?.[1]?.[1] ?? []) as string[];
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.threadKey(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies
      .map(([error, fields]) => (error ? null : toThread(fields as Record<string, string>)))
      .filter((thread): thread is ConsoleThread => thread !== null);
  }

  /** Titles of the given threads (unknown ones are left out), for the task tree's session names. */
  async threadTitles(threadIds: string[]): Promise<Map<string, string>> {
    const titles = new Map<string, string>();
    const valid = threadIds.filter((id) => consoleThreadIdPattern.test(id));
    if (valid.length === 0) return titles;
    const pipeline = this.redis.pipeline();
    for (const id of valid) pipeline.hget(this.threadKey(id), 'title');
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([error, title], index) => {
      if (!error && typeof title === 'string') titles.set(valid[index]!, title);
    });
    return titles;
  }

  async entries(threadId: string): Promise<TranscriptEntry[]> {
    const [ids, all] = await Promise.all([
      this.redis.lrange(this.orderKey(threadId), 0, -1),
      this.redis.hgetall(this.entriesKey(threadId)),
    ]);
    return ids.map((id) => all[id]).flatMap((json) => (json ? [JSON.parse(json) as TranscriptEntry] : []));
  }

  async entry(threadId: string, entryId: string): Promise<TranscriptEntry | null> {
    const json = await this.redis.hget(this.entriesKey(threadId), entryId);
    return json ? (JSON.parse(json) as TranscriptEntry) : null;
  }

  /**
   * Appends an entry (creating the thread if a bot posts into one not seen yet) and publishes it.
   * A user entry names an untitled thread after its first line. With an `idempotencyKey` (a gateway
   * post that may be retried, even by another process), a repeat returns the entry the first one made
   * instead of appending it again.
   */
  async append(
    threadId: string,
    draft: Omit<TranscriptEntry, 'id' | 'at'>,
    idempotencyKey?: string,
  ): Promise<TranscriptEntry> {
    const entry: TranscriptEntry = { id: `e_${newEntryId()}`, at: Date.now(), ...draft };
    // A person's first message names the thread; a command (`tasks`) says nothing about it.
    const offeredTitle = entry.role === 'user' && !entry.command ? titleFrom(entry.text) : '';
    const reply = await runConsoleScript<AppendReply>(
      this.redis,
      appendScript,
      [
        this.threadIndexKey(),
        this.threadKey(threadId),
        this.orderKey(threadId),
        this.entriesKey(threadId),
        idempotencyKey ? `${this.prefix}:posted:${idempotencyKey}` : '',
      ],
      [
        threadId,
        entry.id,
        JSON.stringify(entry),
        entry.at,
        this.maxEntries,
        offeredTitle,
        defaultThreadTitle,
        this.retentionSeconds,
        // It points into the thread: never remembered longer than the thread lives.
        Math.min(this.requestRecordSeconds, this.retentionSeconds),
      ],
    );
    if (reply[0] === 'existing') {
      const [, earlierId, earlier] = reply;
      return earlier ? (JSON.parse(earlier) as TranscriptEntry) : { ...entry, id: earlierId };
    }
    const thread = toThread(Object.fromEntries(pairsOf(reply[1])));
    await this.publish({ type: 'transcript', op: 'append', threadId, entry, thread });
    return entry;
  }

  /**
   * Replaces an entry's content, keeping its id, role and time; null when it no longer exists. The entry
   * is marked edited (`editedAt`) unless `markEdited` is false (a reply streaming into it).
   */
  async replace(
    threadId: string,
    entryId: string,
    change: Partial<Omit<TranscriptEntry, 'id' | 'at'>>,
    options: { markEdited?: boolean } = {},
  ): Promise<TranscriptEntry | null> {
    const previous = await this.entry(threadId, entryId);
    if (!previous) return null;
    const entry: TranscriptEntry = {
      ...previous,
      ...change,
      id: previous.id,
      at: previous.at,
      revision: (previous.revision ?? 0) + 1,
      ...(options.markEdited === false ? {} : { editedAt: Date.now() }),
    };
    if (entry.role !== 'board') delete entry.board;
    const replaced = await runConsoleScript<number>(
      this.redis,
      replaceScript,
      [this.entriesKey(threadId)],
      [entryId, JSON.stringify(entry)],
    );
    if (replaced !== 1) return null;
    await this.publish({ type: 'transcript', op: 'edit', threadId, entry, thread: null });
    return entry;
  }

  /** Removes an entry (a stream entry a shorter final reply no longer needs); false when it was already gone. */
  async remove(threadId: string, entryId: string): Promise<boolean> {
    const entry = await this.entry(threadId, entryId);
    if (!entry) return false;
    const removed = await runConsoleScript<number>(
      this.redis,
      removeScript,
      [this.entriesKey(threadId), this.orderKey(threadId)],
      [entryId],
    );
    if (removed !== 1) return false;
    await this.publish({ type: 'transcript', op: 'remove', threadId, entry, thread: null });
    return true;
  }

  async publish(event: ConsoleEvent): Promise<void> {
    await this.redis.publish(this.eventChannel(), JSON.stringify(event));
  }
}

/** What appendScript answers: the thread's fields as HGETALL's flat list, or the earlier entry of a repeat. */
type AppendReply = ['appended', string[]] | ['existing', string, string];

/** `[field, value, field, value, …]` as pairs. */
function pairsOf(flat: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let index = 0; index + 1 < flat.length; index += 2) pairs.push([flat[index]!, flat[index + 1]!]);
  return pairs;
}

function toThread(fields: Record<string, string>): ConsoleThread | null {
  if (!fields.id) return null;
  return {
    id: fields.id,
    title: fields.title ?? defaultThreadTitle,
    createdAt: Number(fields.createdAt ?? 0),
    updatedAt: Number(fields.updatedAt ?? fields.createdAt ?? 0),
    archived: fields.archived === '1',
    dropped: Number(fields.dropped ?? 0),
  };
}

/** The first line of a message, shortened to a thread title. */
function titleFrom(text: string): string {
  const firstLine =
    text
      .replace(/[`*_#>]/g, '')
      .trim()
      .split('\n')[0] ?? '';
  return cutText(oneLine(firstLine), 60);
}
