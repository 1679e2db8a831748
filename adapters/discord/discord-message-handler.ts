import { ChannelType, DiscordAPIError, type Message, MessageType } from 'discord.js';
import type { ChatUser, ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { toWellFormed } from '../../src/well-formed-text.ts';
import {
  chatUserOf,
  type DiscordContext,
  type DiscordPlace,
  RecentIds,
  RefusalCooldown,
  refOf,
  refusalText,
} from './discord-context.ts';
import { stripBotMentions, threadNameFor } from './discord-text.ts';

/** Discord's answer when a thread already exists for a message (a replayed mention). */
const threadAlreadyCreatedCode = 160004;

/**
 * Turns guild messages into turns: a mention of the bot in a channel starts a thread from that message;
 * any message in a thread Baton owns is a turn without a mention. Bots (Baton included), webhooks and
 * system messages are ignored; edits never arrive here (MESSAGE_UPDATE is not listened to). The event id
 * is the message id, so a replayed or duplicated MESSAGE_CREATE makes no second turn.
 */
export class DiscordMessageHandler {
  private readonly recent = new RecentIds();
  private readonly refusals = new RefusalCooldown();

  constructor(private readonly context: DiscordContext) {}

  async handle(message: Message): Promise<void> {
    if (message.author.bot || message.webhookId || message.system || !message.inGuild()) return;
    if (message.type !== MessageType.Default && message.type !== MessageType.Reply) return;
    if (!this.recent.add(message.id)) return;
    const { client } = this.context;
    const botId = client.user.id;
    const botRoleId = message.guild.members.me?.roles.botRole?.id;
    const mentioned =
      message.mentions.users.has(botId) || (botRoleId !== undefined && message.mentions.roles.has(botRoleId));
    const text = textOf(message, botId, botRoleId);
    const user = chatUserOf(message.author, message.member, message.guildId);
    const channel = message.channel;
    if (channel.isThread()) {
      const place = {
        guildId: message.guildId,
        channelId: channel.parentId ?? channel.id,
        threadId: channel.id,
        ...(channel.type === ChannelType.PrivateThread ? { privateThread: true } : {}),
      };
      await this.inThread(message, refOf(place), user, text, mentioned);
    } else if (mentioned) {
      await this.startConversation(
        message,
        { guildId: message.guildId, channelId: channel.id, threadId: null },
        user,
        text,
      );
    }
  }

  private async inThread(
    message: Message<true>,
    ref: ConversationRef,
    user: ChatUser,
    text: string,
    mentioned: boolean,
  ): Promise<void> {
    const known = await this.context.sink.knowsThread(ref);
    // A thread Baton does not own becomes a conversation when someone mentions the bot in it.
    if (!known && !mentioned) return;
    if (!known && !this.context.sink.isAllowed(user, ref)) {
      await this.refuse(message, user, refusalText);
      return;
    }
    if (!text) return;
    await this.turn(message, ref, user, text);
  }

  private async startConversation(
    message: Message<true>,
    place: DiscordPlace,
    user: ChatUser,
    text: string,
  ): Promise<void> {
    const { context } = this;
    if (!this.context.sink.isAllowed(user, refOf(place))) {
      await this.refuse(message, user, refusalText);
      return;
    }
    if (!text) {
      await context.postText(message.channelId, 'Mention me with a request, or use `/ask`.', message.id);
      return;
    }
    let threadId: string;
    try {
      threadId = await context.createThread(
        message.channelId,
        threadNameFor(text, context.config.thread_name_prefix),
        message.id,
      );
    } catch (error) {
      if (error instanceof DiscordAPIError && error.code === threadAlreadyCreatedCode) {
        // Another delivery of this message started it; a thread from a message takes the message's id.
        threadId = message.id;
      } else {
        context.logger.error({ err: error, channel: message.channelId }, 'creating a discord thread failed');
        const reason = error instanceof Error ? error.message : String(error);
        await context.postText(message.channelId, `⚠️ I couldn't start a thread here: ${reason}`, message.id);
        return;
      }
    }
    const ref = refOf({ ...place, threadId });
    await context.sink.claimThread(ref);
    await this.turn(message, ref, user, text);
  }

  private async turn(
    message: Message<true>,
    ref: ConversationRef,
    user: ChatUser,
    text: string,
  ): Promise<void> {
    const outcome = await this.context.sink.onMessage({
      ref,
      user,
      text,
      messageId: message.id,
      eventId: message.id,
    });
    if (!outcome.accepted && outcome.refusal) await this.refuse(message, user, outcome.refusal);
  }

  private async refuse(message: Message<true>, user: ChatUser, text: string): Promise<void> {
    if (!this.refusals.shouldReply(user.id)) return;
    await this.context.postText(message.channelId, text, message.id);
  }
}

/** The message's text for the model: bot mentions removed, attachments listed by name and URL. */
function textOf(message: Message, botId: string, botRoleId: string | undefined): string {
  const text = stripBotMentions(message.content, botId, botRoleId ? [botRoleId] : []);
  const attachments = [...message.attachments.values()].map(
    (attachment) => `[attachment: ${attachment.name} ${attachment.url}]`,
  );
  return toWellFormed([text, ...attachments].filter(Boolean).join('\n'));
}
