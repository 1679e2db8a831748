import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import type { ChatAdapter, ConversationRef } from './chat-adapter.ts';
import { firstChunkWith } from './platform-chunks.ts';
import { PlatformSendError } from './platform-send-error.ts';
import type { ChunkProgress } from './post-progress.ts';
import { type LiveMessage, StreamLedger } from './stream-ledger.ts';
import type { StreamRecord } from './stream-record.ts';

export type { StreamMessage, StreamRecord, StreamStart } from './stream-record.ts';

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
  recordedSince?(since: number): Promise<string[]>;
  noteMessage?(messageId: string): Promise<void>;
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
  /**
   * Called, and awaited, whenever the record changes: before a stream message is created (its `starting`)
   * and once it exists, so a resumed turn finds every message.
   */
  onRecord?(record: StreamRecord): Promise<void>;
  recipient?: { userId: string; teamId?: string };
  onClosed(): void;
  logger?: Logger;
}

/**
 * Shown after the text of a message still being written, so a message left half-way (its gateway died)
 * never reads as a final answer; the resumed turn replaces it.
 */
export const streamingCursor = ' ▌';

/** What a stream message left over by a shorter final text shows, where the platform cannot delete it. */
export const supersededText = '(see above)';

/**
 * One reply streaming into chat messages. Text comes in as "the answer so far" (it may shrink when a model
 * call is retried or the next step starts); at most one platform call is in flight and they are spaced
 * `intervalMs` apart. A secret is never shown half-written: the last, unfinished word is held back and
 * every text is redacted whole. The text is split as the final text will be (`chunksOf`): once it outgrows
 * one message, that message is completed with its chunk and the next one starts, so at the end the posted
 * messages already are the final chunks and only the last needs its final edit. Every message is recorded
 * before it is created and once it exists (`onRecord`), so a gateway that dies mid-stream leaves the next
 * one to finish the same messages; the final chunks beyond them are posted with their idempotency keys.
 */
export class MessageStream {
  private latest = '';
  private readonly ledger: StreamLedger;
  /** Native mode: the text changed under a native message; nothing more is shown until `finish`. */
  private diverged: boolean;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private lastCallAt = 0;
  private closed = false;
  private statusShown = false;
  private finished: Promise<{ messageIds: string[] }> | undefined;
  private firstTextAt = 0;
  /** The platform refused a native stream here: later messages are posted and edited. */
  private nativeRefused = false;

  constructor(
    private readonly thread: StreamTarget,
    private readonly options: MessageStreamOptions,
  ) {
    this.ledger = new StreamLedger(options.resume, options.onRecord, options.logger);
    // A native stream of a gateway that died: what it appended is unknown here, so it is stopped and updated.
    this.diverged = this.messages.some((message) => message.mode === 'native');
  }

  private get messages(): LiveMessage[] {
    return this.ledger.messages;
  }

  /** The first stream message, once posted. */
  get messageId(): string | null {
    return this.messages[0]?.messageId ?? null;
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
    if (this.messages.length > 0 && this.latest.trim() !== '') return;
    this.statusShown = true;
    void this.thread.setStatus(status);
  }

  /** Stops streaming and leaves the messages as they are (the gateway is stopping; a resumed turn replaces them). */
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
    try {
      await this.adoptUnrecorded();
    } catch (error) {
      // The platform cannot be asked now; a message the dead gateway may have created stays unknown.
      this.options.logger?.warn({ err: error }, 'looking for an unrecorded stream message failed');
      await this.ledger.dropStart();
    }
    if (this.messages.length === 0) {
      const posted = await thread.postChunks(chunks, key, thread.progressFor(key), 0);
      if (this.statusShown) await thread.setStatus('');
      return posted;
    }
    await this.closeNativeStreams(chunks);
    const progress = thread.progressFor(key);
    const reused = Math.min(this.messages.length, chunks.length);
    for (let index = await progress.posted(); index < reused; index += 1) {
      const message = this.messages[index]!;
      if (message.shown !== chunks[index]) {
        try {
          await this.edit(message, chunks[index]!, true);
        } catch (error) {
          if (!(error instanceof PlatformSendError) || error.retryable) throw error;
          // The message is gone (deleted): the reply from here on goes out as new messages instead.
          this.options.logger?.warn({ err: error }, 'stream message not editable; reply posted anew');
          for (let later = index + 1; later < this.messages.length; later += 1) await this.remove(later);
          const anew = await thread.postChunks(
            chunks,
            `${key}:anew`,
            thread.progressFor(`${key}:anew`),
            index,
          );
          return { messageIds: [...this.idsOf(index), ...anew.messageIds] };
        }
      }
      await progress.record(index + 1);
    }
    // A final text shorter than what streamed (the text restarted with a later model call).
    for (let index = chunks.length; index < this.messages.length; index += 1) await this.remove(index);
    const rest = await thread.postChunks(chunks, key, progress, this.messages.length);
    await thread.setStatus('');
    return { messageIds: [...this.idsOf(reused), ...rest.messageIds] };
  }

  /** Stops open native streams; one that grows into its final chunk gets the rest appended, no update. */
  private async closeNativeStreams(chunks: string[]): Promise<void> {
    const { thread } = this;
    const adapter = thread.adapter;
    for (const [index, message] of this.messages.entries()) {
      if (!message.open) continue;
      const target = chunks[index];
      if (
        !this.diverged &&
        target !== undefined &&
        message.shown !== null &&
        target.startsWith(message.shown)
      ) {
        try {
          const rest = target.slice(message.shown.length);
          if (rest !== '')
            await thread.call(() => adapter.appendStream!(thread.ref, message.messageId, rest));
          await thread.call(() => adapter.stopStream!(thread.ref, message.messageId));
          message.shown = target;
          message.open = false;
          continue;
        } catch (error) {
          // The platform ended the stream on its side, say: the final text goes in by an update instead.
          this.options.logger?.warn({ err: error }, 'ending the stream failed; the reply is updated instead');
        }
      }
      await adapter.stopStream?.(thread.ref, message.messageId).catch(() => undefined);
      message.shown = null;
      message.open = false;
    }
  }

  private idsOf(count: number): string[] {
    return this.messages.slice(0, count).map((message) => message.messageId);
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
    const last = this.messages.at(-1);
    const interval =
      this.lastCallAt === 0 || last?.open ? this.options.intervalMs : this.options.editIntervalMs;
    const wait = since + interval - performance.now();
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.flushing = this.flushing.then(() => this.flush());
      },
      Math.max(0, wait),
    );
  }

  /** Takes one step towards showing the latest text (see `step`), and schedules the next. */
  private async flush(): Promise<void> {
    if (this.closed) return;
    const visible = visibleText(this.latest);
    if (visible.trim() === '') {
      // Nothing showable yet (one word so far): look again one interval on.
      this.lastCallAt = performance.now();
      this.schedule();
      return;
    }
    const before = this.latest;
    let behind = false;
    try {
      await this.adoptUnrecorded();
      behind = await this.step(this.thread.chunksOf(visible));
    } catch (error) {
      // Streaming is best effort: `finish` puts things right. A native stream that failed, or a message whose
      // creation failed (it may exist all the same: `finish` looks for it), is not touched again until then.
      if (this.ledger.starting || this.messages.some((message) => message.open)) this.diverged = true;
      this.options.logger?.debug({ err: error, sessionKey: this.thread.sessionKey }, 'stream update failed');
    } finally {
      if (!this.closed && (behind || this.latest !== before)) this.schedule();
    }
  }

  /**
   * One change towards messages showing `chunks` (the visible text, split as the final text will be): start
   * the first message; complete the last one with its chunk once the text has outgrown it, then start the
   * next; grow the last one; or, when the text restarted shorter, fix the others. True when more is to do.
   */
  private async step(chunks: string[]): Promise<boolean> {
    if (this.diverged) return false;
    const messages = this.messages;
    const count = messages.length;
    if (count === 0) {
      await this.create(chunks[0]!, chunks.length > 1);
      return chunks.length > 1;
    }
    if (chunks.length > count) {
      const last = messages[count - 1]!;
      if (last.open || last.shown !== chunks[count - 1]) {
        await this.complete(last, chunks[count - 1]!);
        return true;
      }
      await this.create(chunks[count]!, chunks.length > count + 1);
      return chunks.length > count + 1;
    }
    const current = messages[chunks.length - 1]!;
    const growing = chunks[chunks.length - 1]!;
    if (current.open) {
      if (chunks.length < count || current.shown === null || !growing.startsWith(current.shown)) {
        this.diverged = true;
        return false;
      }
      const delta = growing.slice(current.shown.length);
      if (delta === '') return false;
      this.markCall();
      await this.thread.adapter.appendStream!(this.thread.ref, current.messageId, delta);
      current.shown = growing;
      return false;
    }
    if (current.mode === 'native') {
      // A completed native message the text came back to: `finish` updates it.
      this.diverged = true;
      return false;
    }
    const display = this.display(growing);
    if (current.shown !== display) {
      await this.edit(current, display, false);
      return true;
    }
    // The text restarted shorter: earlier messages show the old text, later ones are not needed (yet).
    for (const [index, message] of messages.entries()) {
      const wanted = index < chunks.length ? chunks[index]! : streamingCursor.trim();
      if (message.shown === wanted || message === current) continue;
      if (message.mode === 'native') {
        this.diverged = true;
        return false;
      }
      await this.edit(message, wanted, false);
      return true;
    }
    return false;
  }

  /** Makes `message` exactly `chunk`: its text is complete (more follows in the next message). */
  private async complete(message: LiveMessage, chunk: string): Promise<void> {
    const { thread } = this;
    const adapter = thread.adapter;
    if (!message.open) {
      await this.edit(message, chunk, false);
      return;
    }
    this.markCall();
    if (message.shown !== null && chunk.startsWith(message.shown)) {
      const rest = chunk.slice(message.shown.length);
      if (rest !== '') await adapter.appendStream!(thread.ref, message.messageId, rest);
      message.shown = chunk;
    } else {
      // Its text changed under it: stopped here, updated by `finish`.
      message.shown = null;
    }
    await adapter.stopStream!(thread.ref, message.messageId);
    message.open = false;
    if (message.shown === null) this.diverged = true;
  }

  /**
   * Creates the next stream message showing `chunk` (complete: without the cursor). It is recorded before
   * the platform call and again once it exists.
   */
  private async create(chunk: string, complete: boolean): Promise<void> {
    const { thread } = this;
    const adapter = thread.adapter;
    const index = this.messages.length;
    const previous = this.messages.at(-1);
    if (adapter.startStream && !this.nativeRefused && (!previous || previous.mode === 'native')) {
      await this.ledger.recordStart({ index, mode: 'native', at: Date.now(), text: chunk });
      this.markCall();
      const native = await thread.call(() => adapter.startStream!(thread.ref, chunk, this.options.recipient));
      if (native) {
        await this.ledger.recordCreated({
          messageId: native.messageId,
          mode: 'native',
          shown: chunk,
          open: true,
        });
        await thread.noteMessage?.(native.messageId);
        return;
      }
      this.nativeRefused = true;
    }
    const text = complete ? chunk : this.display(chunk);
    await this.ledger.recordStart({ index, mode: 'edit', at: Date.now(), text });
    this.markCall();
    const sent = await thread.call(() =>
      adapter.send(thread.ref, { kind: 'text', text, idempotencyKey: this.streamKey(index), streamed: true }),
    );
    await this.ledger.recordCreated({ messageId: sent.messageId, mode: 'edit', shown: text, open: false });
    await thread.noteMessage?.(sent.messageId);
  }

  /** The idempotency key of stream message `index` (the first keeps the key streams always had). */
  private streamKey(index: number): string {
    return index === 0 ? `${this.options.key}:stream` : `${this.options.key}:stream:${index}`;
  }

  /** See StreamLedger.adoptUnrecorded; an adopted native stream is not streamed into again. */
  private async adoptUnrecorded(): Promise<void> {
    const adopted = await this.ledger.adoptUnrecorded(this.thread, (index) => this.streamKey(index));
    if (adopted?.mode === 'native') this.diverged = true;
  }

  /** Edits a message to `text`, keeping the edit rate; `final`: part of `finish`. */
  private async edit(message: LiveMessage, text: string, final: boolean): Promise<void> {
    const { thread } = this;
    if (final) {
      const wait = this.lastCallAt + this.options.editIntervalMs - performance.now();
      if (this.lastCallAt > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    this.markCall();
    const send = () =>
      thread.adapter.edit(thread.ref, message.messageId, { kind: 'text', text, streamed: true });
    // `finish` retries what the platform says is retryable; mid-stream, the next flush tries again.
    await (final ? thread.call(send) : send());
    message.shown = text;
  }

  /** A stream message the final text does not need: deleted where the platform can, else marked. */
  private async remove(index: number): Promise<void> {
    const { thread } = this;
    const adapter = thread.adapter;
    const message = this.messages[index]!;
    try {
      if (adapter.delete) {
        await thread.call(() => adapter.delete!(thread.ref, message.messageId));
      } else {
        await this.edit(message, supersededText, true);
      }
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'a stream message no longer needed was left as it was');
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
