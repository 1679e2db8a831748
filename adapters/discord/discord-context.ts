import {
  type APIInteractionGuildMember,
  ChannelType,
  type Client,
  type GuildMember,
  Routes,
  type User,
} from 'discord.js';
import type { BatonConfig } from '../../src/config/schema.ts';
import type { ChatUser, ConversationRef, GatewaySink } from '../../src/gateway/chat-adapter.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { toWellFormed } from '../../src/well-formed-text.ts';

export const discordPlatform = 'discord';

/** What the message and interaction handlers share with the adapter. */
export interface DiscordContext {
  readonly client: Client<true>;
  readonly sink: GatewaySink;
  readonly config: BatonConfig['discord'];
  readonly logger: Logger;
  /** Posts text (chunked, pinging nobody) in a channel or thread, optionally as a reply; best effort. */
  postText(channelId: string, text: string, replyToMessageId?: string): Promise<void>;
  /** Creates a public thread in a text channel, from a message when one is given; returns its id. */
  createThread(channelId: string, name: string, fromMessageId?: string): Promise<string>;
}

/** Where something happened: the text channel, and the thread inside it when there is one. */
export interface DiscordPlace {
  guildId: string;
  channelId: string;
  threadId: string | null;
  /** The thread is private: only its members see it (and the tasks started in it). */
  privateThread?: boolean;
}

/** Discord's ConversationRef: the thread's parent channel (or the channel) and the thread (or the channel). */
export function refOf(place: DiscordPlace): ConversationRef {
  return {
    platform: discordPlatform,
    channel: place.channelId,
    thread: place.threadId ?? place.channelId,
    ...(place.threadId !== null && place.privateThread ? { privateThread: true } : {}),
  };
}

/**
 * Whether a user is a member of a thread, asked of Discord (GET /channels/{thread}/thread-members/{user}):
 * membership of private threads changes without events Baton receives. Any failure counts as not a member.
 */
export async function isThreadMemberOn(
  client: Client<true>,
  threadId: string,
  userId: string,
): Promise<boolean> {
  try {
    await client.rest.get(Routes.threadMembers(threadId, userId));
    return true;
  } catch {
    // 404 Unknown Member; on any other failure, not a member is the safe answer.
    return false;
  }
}

/** The place of a guild channel or thread, from the cache or, failing that, from Discord. */
export async function placeOf(client: Client<true>, channelId: string): Promise<DiscordPlace | null> {
  const channel =
    client.channels.cache.get(channelId) ?? (await client.channels.fetch(channelId).catch(() => null));
  if (!channel || channel.isDMBased()) return null;
  if (channel.isThread()) {
    return {
      guildId: channel.guildId,
      channelId: channel.parentId ?? channel.id,
      threadId: channel.id,
      ...(channel.type === ChannelType.PrivateThread ? { privateThread: true } : {}),
    };
  }
  return { guildId: channel.guildId, channelId: channel.id, threadId: null };
}

/**
 * The person behind an event. Role ids include the guild's @everyone role (its id is the guild's), so
 * `access.allowed_roles: [<guild id>]` admits every member of that guild.
 */
export function chatUserOf(
  user: User,
  member: GuildMember | APIInteractionGuildMember | null,
  guildId: string,
): ChatUser {
  let roleIds: string[] = [];
  let name = user.globalName ?? user.username;
  if (member && 'displayName' in member) {
    roleIds = [...member.roles.cache.keys()];
    name = member.displayName;
  } else if (member) {
    roleIds = [guildId, ...member.roles];
    name = member.nick ?? name;
  }
  return { id: user.id, name: toWellFormed(name), roleIds, workspaceId: guildId };
}

/** Remembers recently seen ids, so a replayed or duplicated event is handled once per process. */
export class RecentIds {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 5000) {}

  /** True the first time an id is offered. */
  add(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value!);
    return true;
  }
}

/**
 * Plain messages have no ephemeral replies, so a refusal is a short public reply; at most one per person
 * per minute, so someone who keeps writing cannot make the bot spam the channel (later ones are dropped).
 */
export class RefusalCooldown {
  private readonly lastRefusal = new Map<string, number>();

  constructor(private readonly cooldownMs = 60_000) {}

  shouldReply(userId: string, now = Date.now()): boolean {
    const last = this.lastRefusal.get(userId);
    if (last !== undefined && now - last < this.cooldownMs) return false;
    this.lastRefusal.set(userId, now);
    if (this.lastRefusal.size > 1000) {
      for (const [id, at] of this.lastRefusal) if (now - at >= this.cooldownMs) this.lastRefusal.delete(id);
    }
    return true;
  }
}

export const refusalText = "You're not allowed to use Baton here.";
