/**
 * What a reply streaming into chat messages records as it goes (beside the turn's checkpoint), so that the
 * gateway resuming the turn after a crash finishes those messages instead of posting the reply again.
 */

/** `native`: a platform stream (Slack's chat.startStream); `edit`: a message posted, then edited. */
export type StreamMode = 'native' | 'edit';

/** One message of a stream. */
export interface StreamMessage {
  messageId: string;
  mode: StreamMode;
}

/**
 * A stream message about to be created, recorded before the platform call: a gateway that dies between the
 * call and recording the message's id leaves this behind, and the resumed stream finds that message
 * (`ChatAdapter.findPostedMessage`, or the create's idempotency key) instead of creating a second one.
 */
export interface StreamStart {
  /** Its place among the stream's messages (the number recorded before it). */
  index: number;
  mode: StreamMode;
  /** When the create call was about to be made, epoch ms (this gateway's clock). */
  at: number;
  /** Exactly the Markdown the create call carries. */
  text: string;
}

/**
 * The messages one reply streams into, oldest first: a reply longer than one platform message continues
 * in the next, each holding one chunk of the final text.
 */
export interface StreamRecord {
  messages: StreamMessage[];
  starting?: StreamStart;
}
