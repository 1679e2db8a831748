import type { webApi } from '@slack/bolt';
import type { ConversationRef } from '../../src/gateway/chat-adapter.ts';
import type { SlackIdentity } from './slack-inbound.ts';
import { markdownToMrkdwn } from './slack-mrkdwn.ts';
import { threadTsOf } from './slack-poster.ts';
import { toPlatformSendError } from './slack-send-error.ts';

/** How far before the caller's clock a message may be dated by Slack's (clock skew). */
const clockSkewMs = 60_000;
const pageSize = 200;
const maxPages = 5;

/**
 * Finds a message this app created in a thread (chat.startStream and chat.postMessage take no idempotency
 * key), by reading the thread back with conversations.replies: the app's own message dated at or after
 * `since` whose words are exactly those of `text`. Words, not characters: Slack may keep a message's text
 * as mrkdwn or as Markdown, and it tells neither way which. Null when there is none, or when `text` has no
 * words to match by.
 */
export async function findOwnMessage(
  client: webApi.WebClient,
  identity: SlackIdentity,
  ref: ConversationRef,
  lookup: { since: number; text: string; exclude: string[] },
): Promise<{ messageId: string } | null> {
  const threadTs = threadTsOf(ref);
  const wanted = new Set([wordsOf(lookup.text), wordsOf(markdownToMrkdwn(lookup.text))]);
  if (!threadTs || wanted.has('')) return null;
  const oldest = ((lookup.since - clockSkewMs) / 1000).toFixed(6);
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page += 1) {
    let result: webApi.ConversationsRepliesResponse;
    try {
      result = await client.conversations.replies({
        channel: ref.channel,
        ts: threadTs,
        oldest,
        inclusive: true,
        limit: pageSize,
        ...(cursor ? { cursor } : {}),
      });
    } catch (error) {
      throw toPlatformSendError('conversations.replies', error);
    }
    for (const message of result.messages ?? []) {
      const own = message.bot_id === identity.botId || message.user === identity.botUserId;
      if (!own || !message.ts || message.ts === threadTs || lookup.exclude.includes(message.ts)) continue;
      if (wanted.has(wordsOf(message.text ?? ''))) return { messageId: message.ts };
    }
    cursor = result.response_metadata?.next_cursor || undefined;
    if (!result.has_more || !cursor) return null;
  }
  return null;
}

/** The letters and digits of a text, in order: what Markdown, mrkdwn and a cursor leave alike. */
function wordsOf(text: string): string {
  return text.replace(/[^\p{L}\p{N}]+/gu, '').toLowerCase();
}
