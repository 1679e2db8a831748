import type { ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { RecordingAdapter } from '../fakes/recording-adapter.ts';

/**
 * A RecordingAdapter for a platform whose creates take no key (as Slack's): it can be asked what it shows
 * (`findPostedMessage`), matching a post by its text (a board's or prompt's fallback), its thread and its
 * time (a minute of clock skew allowed), and leaving out the ids excluded. Tests extend it to lose the
 * answer of a create call.
 */
export class UnkeyedRecordingAdapter extends RecordingAdapter {
  async findPostedMessage(
    ref: ConversationRef,
    lookup: { since: number; text: string; exclude: string[] },
  ): Promise<{ messageId: string } | null> {
    const found = this.posts.find(
      (post) =>
        post.ref.thread === ref.thread &&
        post.at >= lookup.since - 60_000 &&
        !lookup.exclude.includes(post.messageId) &&
        (post.message.kind === 'text' ? post.message.text : post.message.fallbackText) === lookup.text,
    );
    return found ? { messageId: found.messageId } : null;
  }
}
