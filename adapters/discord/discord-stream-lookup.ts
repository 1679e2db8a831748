import { type APIMessage, type REST, Routes } from 'discord.js';
import type { ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { toPlatformSendError } from './discord-send-error.ts';

/** How far before the caller's clock a message may be dated by Discord's (clock skew). */
const clockSkewMs = 60_000;
const pageSize = 100;
const maxPages = 5;
const discordEpochMs = 1_420_070_400_000n;

/**
 * Finds a message the bot created in a channel or thread at or after `since` (epoch ms) with exactly
 * `text`, by listing the messages after that time. Discord's nonce makes a repeated create return the first
 * message for a few minutes only; this finds one that a gateway dead for longer left unrecorded.
 */
export async function findOwnMessage(
  rest: REST,
  botUserId: string,
  ref: ConversationRef,
  lookup: { since: number; text: string; exclude: string[] },
): Promise<{ messageId: string } | null> {
  let after = snowflakeAt(lookup.since - clockSkewMs);
  for (let page = 0; page < maxPages; page += 1) {
    let messages: APIMessage[];
    try {
      messages = (await rest.get(Routes.channelMessages(ref.thread), {
        query: new URLSearchParams({ after, limit: String(pageSize) }),
      })) as APIMessage[];
    } catch (error) {
      throw toPlatformSendError(error, 'reading messages back');
    }
    const oldestFirst = [...messages].sort((first, second) =>
      BigInt(first.id) < BigInt(second.id) ? -1 : 1,
    );
    const found = oldestFirst.find(
      (message) =>
        message.author.id === botUserId &&
        message.content === lookup.text &&
        !lookup.exclude.includes(message.id),
    );
    if (found) return { messageId: found.id };
    if (messages.length < pageSize) return null;
    after = oldestFirst.at(-1)!.id;
  }
  return null;
}

/** The smallest snowflake of a message made at `epochMs`. */
function snowflakeAt(epochMs: number): string {
  const since = BigInt(Math.max(0, Math.floor(epochMs))) - discordEpochMs;
  return String((since > 0n ? since : 0n) << 22n);
}
