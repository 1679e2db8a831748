import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import type { ChatAdapter, ConversationRef } from './chat-adapter.ts';
import { firstChunkWith } from './platform-chunks.ts';
import { PlatformSendError } from './platform-send-error.ts';
import type { ChunkProgress } from './post-progress.ts';

/**
 * What a stream needs of the conversation it writes into: the Thread (src/gateway/thread.ts), which opens
 * streams, is one. Declared here so that a stream does not import the Thread that imports it.
 */
export interface StreamTarget {
  readonly adapter: ChatAdapter;
  readonly ref: ConversationRef;
  readonly sessionKey: string;
  chunksOf(markdown: string): string[];
  progressFor(key: string): ChunkProgress;
  postChunks(
    chunks: string[],
    key: string | undefined,
    progress: ChunkProgress | undefined,
    from: number,
  ): Promise<{ messageIds: string[] }>;
  call<T>(send: () => Promise<T>): Promise<T>;
  setStatus(status: string): Promise<void>;
}

/** The message a reply streams into, as the turn checkpoint keeps it so a resumed turn finds it. */
export interface StreamRecord {
  messageId: string;
  /** `native`: a platform stream (Slack's chat.startStream); `edit`: a message posted, then edited. */
  mode: 'native' | 'edit';
}

export interface MessageStreamOptions {
  key: string;
  /** Least time between two platform calls, in ms; the first text waits this long too. */
  intervalMs: number;
  /** Least time between two edits of a posted message (the platform's edit rate), in ms; at least `intervalMs`. */
  editIntervalMs: number;
  /** False: another stream is open in this thread; this one only posts its final text. */
  streaming: boolean;
  resume?: StreamRecord | null;
  onStarted?(record: StreamRecord): Promise<void>;
  recipient?: { userId: string; teamId?: string };
  onClosed(): void;
  logger?: Logger;
}

/**
 * Shown after the text of a message still being written, so a message left half-way (its gateway died)
 * never reads as a final answer; the resumed turn replaces it.
 */
export const streamingCursor = ' ▌';

/**
 * One reply streaming into one message. Text comes in as "the answer so far" (it may shrink when a model
 * call is retried or the next step starts); at most one platform call is in flight and they are spaced
 * `intervalMs` apart. A secret is never shown half-written: the last, unfinished word is held back and
 * every text is redacted whole. `finish` makes the message exactly the final text, re-chunked: the first
 * chunk replaces the stream message, the rest follow as new messages (each with its idempotency key, with
 * progress recorded), so a gateway that dies mid-stream leaves the next one to finish the same message.
 */
export class MessageStream {
  private latest = '';
  private record: StreamRecord | null;
  /** Native mode: the text appended so far. Edit mode: what the message shows. */
  private shown = '';
  /** Native mode: appending stopped (the text did not grow from what was shown); `finish` updates instead. */
  private diverged: boolean;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private lastCallAt = 0;
  private closed = false;
  private statusShown = false;
  private finished: Promise<{ messageIds: string[] }> | undefined;
  private firstTextAt = 0;

  constructor(
    private readonly thread: StreamTarget,
    private readonly options: MessageStreamOptions,
  ) {
    this.record = options.resume ?? null;
    // A native stream of a gateway that died: what it appended is unknown here, so it is stopped and updated.
    this.diverged = this.record?.mode === 'native';
  }

  /** The stream message, once posted. */
  get messageId(): string | null {
    return this.record?.messageId ?? null;
  }

  /** The answer so far; shown within `intervalMs`. */
  setText(textSoFar: string): void {
    if (this.closed || !this.options.streaming) return;
    if (this.firstTextAt === 0 && textSoFar.trim() !== '') this.firstTextAt = performance.now();
    this.latest = textSoFar;
    this.schedule();
  }

  /** A status line while no text flows (before the first text, during tool calls); best effort. */
  setStatus(status: string): void {
    if (this.closed || !this.options.streaming) return;
    if (this.record && this.latest.trim() !== '') return;
    this.statusShown = true;
    void this.thread.setStatus(status);
  }

  /** Stops streaming and leaves the message as it is (the gateway is stopping; a resumed turn replaces it). */
  abandon(): void {
    this.close();
  }

  /** Makes the reply exactly `finalText` (redacted, re-chunked); resolves once every chunk is posted. */
  finish(finalText: string): Promise<{ messageIds: string[] }> {
    // Once: a caller that finishes again (an error path after a failed finish) gets the first outcome.
    this.finished ??= this.finishOnce(finalText);
    return this.finished;
  }

  private async finishOnce(finalText: string): Promise<{ messageIds: string[] }> {
    this.close();
    await this.flushing;
    const { thread } = this;
    const { key } = this.options;
    const chunks = thread.chunksOf(finalText);
    if (chunks.length === 0) chunks.push('(no reply)');
    const record = this.record;
    if (!record) {
      const posted = await thread.postChunks(chunks, key, thread.progressFor(key), 0);
      if (this.statusShown) await thread.setStatus('');
      return posted;
    }
    const adapter = thread.adapter;
    if (record.mode === 'native') {
      const final = redactSecrets(finalText);
      if (!this.diverged && chunks.length === 1 && final.startsWith(this.shown)) {
        try {
          const rest = final.slice(this.shown.length);
          if (rest !== '') await thread.call(() => adapter.appendStream!(thread.ref, record.messageId, rest));
          await thread.call(() => adapter.stopStream!(thread.ref, record.messageId));
          await thread.setStatus('');
          return { messageIds: [record.messageId] };
        } catch (error) {
          // The platform ended the stream on its side, say: the final text goes in by an update instead.
          this.options.logger?.warn({ err: error }, 'ending the stream failed; the reply is updated instead');
        }
      }
      await adapter.stopStream?.(thread.ref, record.messageId).catch(() => undefined);
    }
    const progress = thread.progressFor(key);
    if ((await progress.posted()) < 1) {
      // The final edit keeps the edit rate too (Discord: 5 per 5 s).
      const wait = this.lastCallAt + this.options.editIntervalMs - performance.now();
      if (this.lastCallAt > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        await thread.call(() =>
          adapter.edit(thread.ref, record.messageId, { kind: 'text', text: chunks[0]!, streamed: true }),
        );
      } catch (error) {
        if (!(error instanceof PlatformSendError) || error.retryable) throw error;
        // The stream message is gone (deleted): the whole reply goes out as new messages instead.
        this.options.logger?.warn({ err: error }, 'stream message not editable; reply posted anew');
        return thread.postChunks(chunks, `${key}:anew`, thread.progressFor(`${key}:anew`), 0);
      }
      await progress.record(1);
    }
    const rest = await thread.postChunks(chunks, key, progress, 1);
    await thread.setStatus('');
    return { messageIds: [record.messageId, ...rest.messageIds] };
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.options.onClosed();
  }

  private schedule(): void {
    if (this.timer || this.closed || this.firstTextAt === 0) return;
    // The first call waits one interval too: a reply finished by then is simply posted, once, unedited.
    const since = this.lastCallAt === 0 ? this.firstTextAt : this.lastCallAt;
    // Appending to a native stream goes at the stream interval; editing a message keeps the edit rate.
    const interval =
      this.lastCallAt === 0 || this.record?.mode === 'native'
        ? this.options.intervalMs
        : this.options.editIntervalMs;
    const wait = since + interval - performance.now();
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.flushing = this.flushing.then(() => this.flush());
      },
      Math.max(0, wait),
    );
  }

  /** Shows the latest text: starts the stream message, appends to it, or edits it. */
  private async flush(): Promise<void> {
    if (this.closed) return;
    const visible = visibleText(this.latest);
    if (visible.trim() === '') {
      // Nothing showable yet (one word so far): look again one interval on.
      this.lastCallAt = performance.now();
      this.schedule();
      return;
    }
    const { thread } = this;
    const adapter = thread.adapter;
    const before = this.latest;
    try {
      if (!this.record) {
        this.markCall();
        const native = (await adapter.startStream?.(thread.ref, visible, this.options.recipient)) ?? null;
        if (native) {
          this.record = { messageId: native.messageId, mode: 'native' };
          this.shown = visible;
        } else {
          const text = this.display(visible);
          const sent = await adapter.send(thread.ref, {
            kind: 'text',
            text,
            idempotencyKey: `${this.options.key}:stream`,
            streamed: true,
          });
          this.record = { messageId: sent.messageId, mode: 'edit' };
          this.shown = text;
        }
        await this.options.onStarted?.(this.record);
      } else if (this.record.mode === 'native') {
        if (this.diverged) return;
        const tooLong =
          (adapter.renderedLength?.(visible) ?? visible.length) > adapter.limits.maxMessageChars;
        if (tooLong || !visible.startsWith(this.shown)) {
          this.diverged = true;
          return;
        }
        const delta = visible.slice(this.shown.length);
        if (delta === '') return;
        this.markCall();
        await adapter.appendStream!(thread.ref, this.record.messageId, delta);
        this.shown = visible;
      } else {
        const text = this.display(visible);
        if (text === this.shown) return;
        this.markCall();
        await adapter.edit(thread.ref, this.record.messageId, { kind: 'text', text, streamed: true });
        this.shown = text;
      }
    } catch (error) {
      // Streaming is best effort: the next flush or `finish` puts things right.
      if (this.record?.mode === 'native') this.diverged = true;
      this.options.logger?.debug({ err: error, sessionKey: thread.sessionKey }, 'stream update failed');
    } finally {
      if (!this.closed && this.latest !== before) this.schedule();
    }
  }

  private markCall(): void {
    this.lastCallAt = performance.now();
  }

  /** Edit mode: what fits one message, then the cursor. */
  private display(visible: string): string {
    const adapter = this.thread.adapter;
    return firstChunkWith(
      visible.trimEnd(),
      streamingCursor,
      adapter.limits.maxMessageChars,
      adapter.renderedLength?.bind(adapter),
    );
  }
}

/** The text up to its last whitespace (a word still being written may be a secret not yet whole), redacted. */
export function visibleText(textSoFar: string): string {
  const match = /\s(?=\S*$)/.exec(textSoFar);
  const settled = /\s$/.test(textSoFar) ? textSoFar : match ? textSoFar.slice(0, match.index + 1) : '';
  return redactSecrets(settled);
}
