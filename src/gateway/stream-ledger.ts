import type { Logger } from '../logging/logger.ts';
import type { ChatAdapter, ConversationRef } from './chat-adapter.ts';
import type { StreamMode, StreamRecord, StreamStart } from './stream-record.ts';

/** A stream message as the stream that writes it knows it. */
export interface LiveMessage {
  messageId: string;
  mode: StreamMode;
  /** Exactly what the message shows, as this process sent it; null when unknown (a resumed stream). */
  shown: string | null;
  /** A native stream not stopped yet. */
  open: boolean;
}

/** What the ledger needs of the conversation to adopt a message. */
export interface LedgerTarget {
  readonly adapter: ChatAdapter;
  readonly ref: ConversationRef;
  readonly sessionKey: string;
  call<T>(send: () => Promise<T>): Promise<T>;
  /** Messages other posts recorded in the thread at or after `since` (epoch ms): a lookup leaves them out. */
  recordedSince?(since: number): Promise<string[]>;
  /** Records a message the thread now shows, so another post's lookup leaves it out. */
  noteMessage?(messageId: string): Promise<void>;
}

/**
 * The messages of one stream, and the one about to be created, recorded (`onRecord`, awaited) before each
 * create call and once the message exists: a gateway that dies anywhere in between leaves the next one
 * enough to finish the same messages.
 */
export class StreamLedger {
  readonly messages: LiveMessage[];
  private start: StreamStart | null;

  constructor(
    resume: StreamRecord | null | undefined,
    private readonly onRecord: ((record: StreamRecord) => Promise<void>) | undefined,
    private readonly logger: Logger | undefined,
  ) {
    // What a gateway that died had shown is unknown here: every message is made final by `finish`.
    this.messages = (resume?.messages ?? []).map((message) => ({
      ...message,
      shown: null,
      open: message.mode === 'native',
    }));
    this.start = resume?.starting ?? null;
  }

  /** A create call recorded but not its outcome. */
  get starting(): StreamStart | null {
    return this.start;
  }

  async recordStart(start: StreamStart): Promise<void> {
    this.start = start;
    await this.save();
  }

  async recordCreated(message: LiveMessage): Promise<void> {
    this.messages.push(message);
    this.start = null;
    await this.save();
  }

  /** Forgets the create call recorded (it made no message, or nothing can be learnt of it now). */
  async dropStart(): Promise<void> {
    this.start = null;
    await this.save();
  }

  /**
   * A message recorded as about to be created but never recorded as created (this gateway's create call
   * failed, or an earlier gateway died in between) is adopted, so it is finished rather than left beside a
   * second one: where the platform's creates take no idempotency key (Slack), it is looked for
   * (`findPostedMessage`); elsewhere it is created again with the same key (`streamKey`), which returns
   * the message the first call made (Discord's nonce, within its few minutes; the console's key) or makes
   * it now. Resolves with the message adopted, or null.
   */
  async adoptUnrecorded(
    target: LedgerTarget,
    streamKey: (index: number) => string,
  ): Promise<LiveMessage | null> {
    const start = this.start;
    if (!start) return null;
    const adapter = target.adapter;
    let adopted: { messageId: string; shown: string | null } | null = null;
    if (start.index === this.messages.length) {
      if (adapter.findPostedMessage) {
        const exclude = [
          ...this.messages.map((message) => message.messageId),
          ...((await target.recordedSince?.(start.at)) ?? []),
        ];
        const found = await target.call(() =>
          adapter.findPostedMessage!(target.ref, { since: start.at, text: start.text, exclude }),
        );
        if (found) adopted = { messageId: found.messageId, shown: null };
      } else if (start.mode === 'edit') {
        const { text } = start;
        const idempotencyKey = streamKey(start.index);
        const sent = await target.call(() =>
          adapter.send(target.ref, { kind: 'text', text, idempotencyKey, streamed: true }),
        );
        adopted = { messageId: sent.messageId, shown: text };
      }
    }
    if (!adopted) {
      await this.dropStart();
      return null;
    }
    this.logger?.info(
      { sessionKey: target.sessionKey, messageId: adopted.messageId },
      'adopted a stream message whose creation was not recorded',
    );
    // A native stream's state is unknown (it may still be open): `finish` stops it and updates it.
    const message = { ...adopted, mode: start.mode, open: start.mode === 'native' };
    await this.recordCreated(message);
    await target.noteMessage?.(message.messageId);
    return message;
  }

  private async save(): Promise<void> {
    await this.onRecord?.({
      messages: this.messages.map(({ messageId, mode }) => ({ messageId, mode })),
      ...(this.start ? { starting: this.start } : {}),
    });
  }
}
