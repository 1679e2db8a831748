import type {
  ChatAdapter,
  ConversationRef,
  GatewaySink,
  OutboundMessage,
  PlatformLimits,
} from '../../src/gateway/chat-adapter.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';

export interface RecordedPost {
  ref: ConversationRef;
  messageId: string;
  message: OutboundMessage;
  at: number;
}

/** Decides the fate of one send: undefined sends it; an error fails it; 'hang' never settles. */
export type SendFault = (post: {
  ref: ConversationRef;
  message: OutboundMessage;
  attempt: number;
}) => PlatformSendError | 'hang' | undefined;

let counter = 0;

/**
 * A ChatAdapter that records what the gateway posts, for gateway and delivery tests. Faults are
 * injected per send; the sink lets tests push messages and commands as a platform would.
 */
export class RecordingAdapter implements ChatAdapter {
  readonly posts: RecordedPost[] = [];
  readonly edits: RecordedPost[] = [];
  readonly typing: ConversationRef[] = [];
  sink: GatewaySink | null = null;
  fault: SendFault | undefined;
  private attempts = 0;

  constructor(
    readonly platform = 'test',
    readonly limits: PlatformLimits = { maxMessageChars: 2000 },
  ) {}

  async start(sink: GatewaySink): Promise<void> {
    this.sink = sink;
  }

  async stop(): Promise<void> {
    this.sink = null;
  }

  isHealthy(): boolean {
    return this.sink !== null;
  }

  async send(ref: ConversationRef, message: OutboundMessage): Promise<{ messageId: string }> {
    this.attempts += 1;
    const fault = this.fault?.({ ref, message, attempt: this.attempts });
    if (fault === 'hang') return new Promise(() => undefined);
    if (fault) throw fault;
    counter += 1;
    const messageId = `m${counter}`;
    this.posts.push({ ref, messageId, message, at: Date.now() });
    return { messageId };
  }

  async edit(ref: ConversationRef, messageId: string, message: OutboundMessage): Promise<void> {
    this.edits.push({ ref, messageId, message, at: Date.now() });
  }

  async showTyping(ref: ConversationRef): Promise<void> {
    this.typing.push(ref);
  }

  /** Texts of the text posts in a thread, in order. */
  textsIn(thread: string): string[] {
    return this.posts
      .filter((post) => post.ref.thread === thread && post.message.kind === 'text')
      .map((post) => (post.message.kind === 'text' ? post.message.text : ''));
  }
}

export function retryableFailure(retryAfterMs?: number): PlatformSendError {
  return new PlatformSendError('platform unavailable (test)', {
    retryable: true,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}
