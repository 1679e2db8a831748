import type { Logger } from '../logging/logger.ts';
import { redactSecrets, redactSecretsDeep } from '../logging/redact-secrets.ts';
import { cutText } from '../text/cut-text.ts';
import {
  type ChatAdapter,
  type ConversationRef,
  type OutboundMessage,
  sessionKeyOf,
  type TaskBoardView,
  type TaskPrompt,
} from './chat-adapter.ts';
import { MessageStream } from './message-stream.ts';
import { chunkForPlatform } from './platform-chunks.ts';
import { PlatformSendError } from './platform-send-error.ts';
import {
  type ChunkProgress,
  type ChunkState,
  fingerprintOf,
  type PostIntent,
  type PostProgressStore,
  type ThreadMessages,
} from './post-progress.ts';
import { sendWithRetry } from './send-with-retry.ts';
import type { StreamRecord } from './stream-record.ts';

export interface ThreadOptions {
  /** Where keyed posts record the chunks already posted. */
  progress: PostProgressStore;
  /** Aborts retry waits (the gateway stopping). */
  signal?: AbortSignal;
  /** Least time between two platform calls of one stream, in ms; default 400. */
  streamIntervalMs?: number;
  logger?: Logger;
}

export interface PostOptions {
  /**
   * Stable across retries of this post, from any gateway (e.g. `delivery:<task>`): chunk `i` is posted with
   * the idempotency key `<key>:<i>`, and progress is recorded under it. Default: the message's own key.
   */
  key?: string;
  /** Where this post keeps its progress, when not under its key in the thread's store (result delivery). */
  progress?: ChunkProgress;
}

export interface StreamOptions {
  /**
   * The reply's key: stream messages are posted as `<key>:stream` (the first), `<key>:stream:<i>` (the
   * next ones), final chunks beyond them as `<key>:<i>`.
   */
  key: string;
  /** The stream messages of an earlier attempt of this reply (a gateway died mid-stream): finished, not duplicated. */
  resume?: StreamRecord | null;
  /**
   * Called, and awaited, before each stream message is created and once it exists, so a resumed turn can
   * find them (the turn checkpoint).
   */
  onRecord?(record: StreamRecord): Promise<void>;
  /** Whom the reply answers (Slack's startStream asks for it outside DMs). */
  recipient?: { userId: string; teamId?: string };
}

export const defaultStreamIntervalMs = 400;
const maxNoticeChunks = 3;
/**
 * Messages recorded in the thread this long before an intent are left out of its lookup too: the lookup
 * allows a minute of clock skew, and recording a message's id comes after the platform dated it.
 */
const excludeMarginMs = 5 * 60_000;

/** Sessions with a stream open in this process: a thread never has two at once. */
const openStreams = new Set<string>();

/**
 * One conversation on one platform, and the only way anything reaches a chat: replies, results, boards,
 * prompts, streams and notices. It redacts secrets, splits text so each rendered piece fits one platform
 * message, posts each piece with its own idempotency key, records progress so a retried or resumed post
 * skips what is already there, and retries what the platform says is retryable. Adapters only make the
 * platform calls.
 */
export class Thread {
  readonly sessionKey: string;
  /** The thread's recorded messages, where the platform's creates are looked up (`findPostedMessage`). */
  private readonly messages: ThreadMessages | undefined;

  constructor(
    readonly adapter: ChatAdapter,
    readonly ref: ConversationRef,
    private readonly options: ThreadOptions,
  ) {
    this.sessionKey = sessionKeyOf(ref);
    this.messages = adapter.findPostedMessage ? options.progress.messagesIn?.(this.sessionKey) : undefined;
  }

  /** Markdown redacted and split for this platform: each piece renders as one message. */
  chunksOf(markdown: string): string[] {
    const renderedLength = this.adapter.renderedLength?.bind(this.adapter);
    return chunkForPlatform(redactSecrets(markdown), this.adapter.limits.maxMessageChars, renderedLength);
  }

  /** The progress of a keyed post, where `post` keeps it. */
  progressFor(key: string): ChunkProgress {
    return this.options.progress.for(key);
  }

  /**
   * Posts a message: text in as many chunks as it takes (a retry with the same key posts only the chunks
   * not yet posted), a board or a prompt as one message. Resolves with the ids of the messages posted now
   * (or adopted: posted by an attempt that stopped before recording them).
   */
  async post(message: OutboundMessage, options: PostOptions = {}): Promise<{ messageIds: string[] }> {
    const key = options.key ?? (message.kind === 'board' ? undefined : message.idempotencyKey);
    const progress = options.progress ?? (key ? this.progressFor(key) : undefined);
    if (message.kind !== 'text') {
      const state = await stateOf(progress);
      if (state.posted >= 1) return { messageIds: [] };
      const one = this.oneMessage(message, key);
      const text = one.kind === 'text' ? one.text : one.fallbackText;
      const messageId = await this.postPiece(0, text, progress, state.intent, () =>
        this.adapter.send(this.ref, one),
      );
      return { messageIds: [messageId] };
    }
    return this.postChunks(this.chunksOf(message.text), key, progress, 0, message.replyTo);
  }

  /**
   * Posts `chunks[from…]` with keys `<key>:<index>`, skipping those the progress says are posted; chunk 0
   * answers `replyTo` when given.
   */
  async postChunks(
    chunks: string[],
    key: string | undefined,
    progress: ChunkProgress | undefined,
    from: number,
    replyTo?: string,
  ): Promise<{ messageIds: string[] }> {
    const messageIds: string[] = [];
    const state = await stateOf(progress);
    for (let index = Math.max(from, state.posted); index < chunks.length; index += 1) {
      const message: OutboundMessage = {
        kind: 'text',
        text: chunks[index]!,
        ...(key ? { idempotencyKey: `${key}:${index}` } : {}),
        ...(index === 0 && replyTo ? { replyTo } : {}),
      };
      messageIds.push(
        await this.postPiece(index, chunks[index]!, progress, state.intent, () =>
          this.adapter.send(this.ref, message),
        ),
      );
    }
    return { messageIds };
  }

  /**
   * Posts piece `index` of a post and records it. Where the platform's creates are not idempotent by key
   * (the adapter has `findPostedMessage`) and the progress keeps intents, each create call is recorded
   * first; a call recorded but never seen answered (an earlier attempt's, or this one's that failed in a way
   * that is retried: it may have landed) is looked up before calling again, once past the platform's
   * `idempotencyWindowMs`, and its message adopted.
   */
  private async postPiece(
    index: number,
    text: string,
    progress: ChunkProgress | undefined,
    intent: PostIntent | null,
    send: () => Promise<{ messageId: string }>,
  ): Promise<string> {
    const lookups = this.adapter.findPostedMessage !== undefined && progress?.recordIntent !== undefined;
    let unanswered = lookups && intent?.index === index ? intent : null;
    const keyWindowMs = this.adapter.limits.idempotencyWindowMs ?? 0;
    const { messageId } = await this.call(async () => {
      // Within the key's window the platform itself returns the message a repeated create already made.
      if (unanswered && Date.now() - unanswered.at >= keyWindowMs) {
        const found = await this.adopt(unanswered, text);
        if (found) return { messageId: found };
      }
      if (lookups) {
        unanswered = { index, at: Date.now(), fingerprint: fingerprintOf(text) };
        await progress!.recordIntent!(unanswered);
      }
      try {
        return await send();
      } catch (error) {
        // Rate limited: the platform refused the call before carrying it out, so there is nothing to look for.
        if (error instanceof PlatformSendError && error.retryAfterMs !== undefined) unanswered = null;
        throw error;
      }
    });
    await progress?.record(index + 1, messageId);
    await this.noteMessage(messageId);
    return messageId;
  }

  /**
   * The message an earlier attempt's recorded call made, found on the platform (leaving out the thread's
   * messages recorded since, which belong to other posts); null when there is none, or when it cannot be
   * told (the text is not the one recorded, the platform refuses the lookup): then the piece is posted.
   */
  private async adopt(intent: PostIntent, text: string): Promise<string | null> {
    const where = { sessionKey: this.sessionKey, index: intent.index };
    if (intent.fingerprint !== fingerprintOf(text)) {
      this.options.logger?.warn(
        where,
        'an unrecorded post cannot be looked for: its text changed; posting it again',
      );
      return null;
    }
    // Not retried here: the call it is part of is (postPiece).
    const found = await this.lookUp(intent.at, text, where);
    if (found)
      this.options.logger?.info({ ...where, messageId: found }, 'adopted a post that was not recorded');
    return found;
  }

  /**
   * The platform's lookup (`findPostedMessage`) for a message posted at or after `since` with `text`,
   * leaving out the messages the thread recorded since. Retryable failures are thrown; a refusal for good
   * (a missing scope) is logged and gives null: posting again risks a second copy, never losing it.
   */
  private async lookUp(since: number, text: string, where: object): Promise<string | null> {
    const exclude = await this.recordedSince(since);
    try {
      const found = await this.adapter.findPostedMessage!(this.ref, { since, text, exclude });
      return found?.messageId ?? null;
    } catch (error) {
      if (!(error instanceof PlatformSendError) || error.retryable) throw error;
      this.options.logger?.warn({ ...where, err: error }, 'looking for an unrecorded post failed');
      return null;
    }
  }

  /**
   * The message a keyed post's recorded create call made, when the post was never recorded as made: looked
   * up, and recorded as `post` would record it. Null when no call is pending or nothing is found. For a
   * post that will not be made any more (a prompt settled meanwhile) but whose message may exist.
   */
  async adoptUnrecorded(message: OutboundMessage, progress: ChunkProgress): Promise<string | null> {
    const state = await stateOf(progress);
    if (state.posted > 0 || state.intent?.index !== 0 || !this.adapter.findPostedMessage) return null;
    const one = this.oneMessage(message, undefined);
    const text = one.kind === 'text' ? (this.chunksOf(one.text)[0] ?? '') : one.fallbackText;
    const intent = state.intent;
    const messageId = await this.call(() => this.adopt(intent, text));
    if (messageId === null) return null;
    await progress.record(1, messageId);
    await this.noteMessage(messageId);
    return messageId;
  }

  /** Whether the platform's creates are looked up when their outcome is unknown (`findPostedMessage`). */
  get looksUpPosts(): boolean {
    return this.adapter.findPostedMessage !== undefined;
  }

  /** The text a board or prompt is posted with (its fallback), as a lookup matches it. */
  postedTextOf(message: Exclude<OutboundMessage, { kind: 'text' }>): string {
    const one = this.oneMessage(message, undefined);
    return one.kind === 'text' ? one.text : one.fallbackText;
  }

  /**
   * A message this app posted here at or after `since` with `text` (as `postedTextOf` gives it) that no post
   * recorded; null when there is none, or the platform refuses to be asked (retryable failures are thrown).
   */
  async findUnrecorded(since: number, text: string): Promise<string | null> {
    if (!this.adapter.findPostedMessage) return null;
    return this.call(() => this.lookUp(since, text, { sessionKey: this.sessionKey }));
  }

  /** Records a message this thread now shows, so no lookup for another post takes it (best effort). */
  async noteMessage(messageId: string): Promise<void> {
    try {
      await this.messages?.add(messageId);
    } catch (error) {
      this.options.logger?.warn({ err: error, sessionKey: this.sessionKey }, 'thread message not recorded');
    }
  }

  /** Messages this thread recorded at or after `since` (epoch ms): lookups leave them out. */
  async recordedSince(since: number): Promise<string[]> {
    return (await this.messages?.since(since - excludeMarginMs)) ?? [];
  }

  /** Replaces a message posted earlier; text longer than one message is cut (an edit cannot become two). */
  async update(messageId: string, message: OutboundMessage): Promise<void> {
    const fitted = this.oneMessage(message, undefined);
    await this.call(() => this.adapter.edit(this.ref, messageId, fitted));
  }

  /**
   * A note only `userId` sees (at most three messages: notes are short answers); false where the platform
   * has no such notes (the caller decides what then).
   */
  async notice(userId: string, markdown: string): Promise<boolean> {
    if (!this.adapter.postNotice) return false;
    for (const text of this.chunksOf(markdown).slice(0, maxNoticeChunks)) {
      await this.call(() => this.adapter.postNotice!(this.ref, userId, text));
    }
    return true;
  }

  /** The platform's "is thinking…" line, where it has one; failures are only logged. */
  async setStatus(status: string): Promise<void> {
    try {
      await this.adapter.setStatus?.(this.ref, status);
    } catch (error) {
      this.options.logger?.debug({ err: error, sessionKey: this.sessionKey }, 'status line not shown');
    }
  }

  /**
   * A reply that grows as it is written: feed it text with `setText`, end it with `finish(finalText)`.
   * One stream per thread at a time: a second one opened meanwhile does not stream, it only posts at the end.
   */
  openStream(options: StreamOptions): MessageStream {
    const exclusive = !openStreams.has(this.sessionKey);
    const interval = this.options.streamIntervalMs ?? defaultStreamIntervalMs;
    if (exclusive) openStreams.add(this.sessionKey);
    return new MessageStream(this, {
      ...options,
      intervalMs: interval,
      editIntervalMs: Math.max(interval, this.adapter.limits.minEditIntervalMs ?? 0),
      streaming: exclusive,
      onClosed: () => {
        if (exclusive) openStreams.delete(this.sessionKey);
      },
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
  }

  /** Streams text pieces as they come (an async iterable), then posts the whole exactly once. */
  async stream(pieces: AsyncIterable<string>, options: StreamOptions): Promise<{ messageIds: string[] }> {
    const stream = this.openStream(options);
    let text = '';
    try {
      for await (const piece of pieces) {
        text += piece;
        stream.setText(text);
      }
    } catch (error) {
      stream.abandon();
      throw error;
    }
    return stream.finish(text);
  }

  /** One platform call, retried while the platform says it is safe to. */
  call<T>(send: () => Promise<T>): Promise<T> {
    return sendWithRetry(send, this.options.signal);
  }

  private oneMessage(message: OutboundMessage, key: string | undefined): OutboundMessage {
    const max = this.adapter.limits.maxMessageChars;
    switch (message.kind) {
      case 'text':
        return { ...message, text: this.fitted(message.text) };
      case 'board':
        return {
          kind: 'board',
          board: redactSecretsDeep(message.board) as TaskBoardView,
          fallbackText: cutText(redactSecrets(message.fallbackText), max),
        };
      case 'prompt':
        return {
          kind: 'prompt',
          prompt: redactSecretsDeep(message.prompt) as TaskPrompt,
          fallbackText: this.fitted(message.fallbackText),
          ...(key ? { idempotencyKey: key } : {}),
        };
    }
  }

  /** Markdown that renders as one message: the first chunk, with `…` when more was cut. */
  fitted(markdown: string): string {
    const chunks = this.chunksOf(markdown);
    if (chunks.length <= 1) return chunks[0] ?? '';
    const max = this.adapter.limits.maxMessageChars;
    const renderedLength = this.adapter.renderedLength?.bind(this.adapter);
    return `${chunkForPlatform(redactSecrets(markdown), max - 2, renderedLength)[0] ?? ''} …`;
  }
}

async function stateOf(progress: ChunkProgress | undefined): Promise<ChunkState> {
  if (!progress) return { posted: 0, intent: null };
  return progress.state ? progress.state() : { posted: await progress.posted(), intent: null };
}
