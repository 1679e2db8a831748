import {
  type APIAllowedMentions,
  type APIMessage,
  type APIThreadChannel,
  ChannelType,
  Client,
  Events,
  GatewayIntentBits,
  Options,
  type RESTPostAPIChannelMessageJSONBody,
  Routes,
  Status,
} from 'discord.js';
import type { BatonConfig } from '../../src/config/schema.ts';
import type {
  ChatAdapter,
  ConversationRef,
  GatewaySink,
  OutboundMessage,
  PlatformLimits,
} from '../../src/gateway/chat-adapter.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { cutText } from '../../src/text/cut-text.ts';
import { boardMessageBody } from './discord-board.ts';
import { registerSlashCommands } from './discord-commands.ts';
import { type DiscordContext, discordPlatform, isThreadMemberOn } from './discord-context.ts';
import { DiscordInteractionHandler } from './discord-interaction-handler.ts';
import { DiscordMessageHandler } from './discord-message-handler.ts';
import { promptMessageBody } from './discord-prompt.ts';
import { nonceFor, postKey, RetryNonces } from './discord-retry-nonces.ts';
import { toPlatformSendError } from './discord-send-error.ts';
import { findOwnMessage } from './discord-stream-lookup.ts';
import { maxMessageChars } from './discord-text.ts';

export interface DiscordAdapterOptions {
  /** Bot token (DISCORD_TOKEN). Never logged. */
  token: string;
  /** Application id (DISCORD_APPLICATION_ID), for slash command registration. */
  applicationId: string;
  /** REST base (DISCORD_API_URL), e.g. `http://127.0.0.1:8080/api`; default `https://discord.com/api`. */
  apiUrl?: string;
  config: BatonConfig['discord'];
  logger: Logger;
  /** How long `start` waits for the gateway connection to be ready; default 30 000 ms. */
  readyTimeoutMs?: number;
}

/** Bot posts ping nobody: model-written text must not reach @everyone or a role. */
const noPings: APIAllowedMentions = { parse: [] };
const threadArchiveMinutes = 1440;

/**
 * Baton on Discord (discord.js 14): slash commands, mentions and owned threads become turns and commands;
 * replies, results and live task boards (an embed with Cancel / Refresh buttons) are posted into threads.
 * Writes go through discord.js's REST client with its rate-limit queue but without its blind retries;
 * failures become PlatformSendError, and the delivery layer decides what to retry.
 */
export class DiscordAdapter implements ChatAdapter {
  readonly platform = discordPlatform;
  // Discord allows 5 edits per 5 s per channel: a streaming reply is edited at most once a second.
  // Discord remembers a nonce for a few minutes: a keyed post retried sooner is only made again with it.
  readonly limits: PlatformLimits = { maxMessageChars, minEditIntervalMs: 1000, idempotencyWindowMs: 60_000 };
  readonly #token: string;
  private readonly apiUrl: string;
  private readonly nonces = new RetryNonces();
  private readonly options: Omit<DiscordAdapterOptions, 'token'>;
  private client: Client | null = null;

  constructor(options: DiscordAdapterOptions) {
    // The token lives only in a #private field, so logging or serialising the adapter never shows it.
    const { token, ...rest } = options;
    this.#token = token;
    this.options = rest;
    this.apiUrl = (options.apiUrl ?? 'https://discord.com/api').replace(/\/+$/, '').replace(/\/v\d+$/, '');
  }

  async start(sink: GatewaySink): Promise<void> {
    const { logger, config, applicationId } = this.options;
    const client = new Client({
      // Message Content is privileged: enable it for the bot in the developer portal.
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
      // retries: 0 — a POST that failed with a 5xx may have landed; the delivery layer decides. 429s are
      // still queued and retried by discord.js (the request was not processed).
      rest: { api: this.apiUrl, retries: 0 },
      allowedMentions: { parse: [], repliedUser: false },
      // Baton never reads old messages; each event carries what it needs.
      makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 0 }),
    });
    this.client = client;
    const context = this.contextFor(client as Client<true>, sink);
    const messages = new DiscordMessageHandler(context);
    const interactions = new DiscordInteractionHandler(context);
    client.on(Events.MessageCreate, (message) => {
      messages
        .handle(message)
        .catch((error: unknown) => logger.error({ err: error }, 'discord message failed'));
    });
    client.on(Events.InteractionCreate, (interaction) => {
      interactions
        .handle(interaction)
        .catch((error: unknown) => logger.error({ err: error }, 'discord interaction failed'));
    });
    client.on(Events.ShardReconnecting, (shard) => logger.warn({ shard }, 'discord gateway reconnecting'));
    client.on(Events.ShardResume, (shard, replayed) =>
      logger.info({ shard, replayed }, 'discord gateway resumed'),
    );
    client.on(Events.ShardDisconnect, (event, shard) =>
      logger.error({ shard, code: event.code }, 'discord gateway disconnected for good'),
    );
    client.on(Events.ShardError, (error, shard) =>
      logger.warn({ err: error, shard }, 'discord gateway error'),
    );
    client.on(Events.Error, (error) => logger.error({ err: error }, 'discord client error'));
    try {
      client.rest.setToken(this.#token);
      await registerSlashCommands(client.rest, applicationId, config.guild_ids, logger);
      await this.login(client);
    } catch (error) {
      this.client = null;
      await client.destroy();
      throw error;
    }
    logger.info({ user: client.user?.tag, guilds: client.guilds.cache.size }, 'discord adapter ready');
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.destroy();
  }

  isHealthy(): boolean {
    const client = this.client;
    if (!client?.isReady() || client.ws.shards.size === 0) return false;
    return client.ws.shards.every((shard) => shard.status === Status.Ready);
  }

  async send(ref: ConversationRef, message: OutboundMessage): Promise<{ messageId: string }> {
    const body = this.bodyOf(message, 'create');
    const key = postKey(ref.thread, body);
    // The gateway's key is the same for every retry of this post, whichever process makes it, so Discord
    // drops a retry of a post that had landed even after a crash; without one, nonces are per process.
    const nonce =
      message.kind !== 'board' && message.idempotencyKey
        ? nonceFor(message.idempotencyKey)
        : this.nonces.take(key);
    try {
      const created = (await this.rest().post(Routes.channelMessages(ref.thread), {
        body: { ...body, nonce, enforce_nonce: true },
      })) as APIMessage;
      return { messageId: created.id };
    } catch (error) {
      const failure = toPlatformSendError(error, 'posting a message');
      if (failure.retryable) this.nonces.rememberFailure(key, nonce);
      throw failure;
    }
  }

  async edit(ref: ConversationRef, messageId: string, message: OutboundMessage): Promise<void> {
    try {
      await this.rest().patch(Routes.channelMessage(ref.thread, messageId), {
        body: this.bodyOf(message, 'edit'),
      });
    } catch (error) {
      throw toPlatformSendError(error, 'editing a message');
    }
  }

  async delete(ref: ConversationRef, messageId: string): Promise<void> {
    try {
      await this.rest().delete(Routes.channelMessage(ref.thread, messageId));
    } catch (error) {
      throw toPlatformSendError(error, 'deleting a message');
    }
  }

  /** Discord's nonce de-duplicates a create for a few minutes only: past that, the thread is read back. */
  async findPostedMessage(
    ref: ConversationRef,
    lookup: { since: number; text: string; exclude: string[] },
  ): Promise<{ messageId: string } | null> {
    const botUserId = this.client?.user?.id;
    if (!botUserId) throw toPlatformSendError(new Error('the Discord adapter is not running'), 'Discord');
    return findOwnMessage(this.rest(), botUserId, ref, lookup);
  }

  async isThreadMember(ref: ConversationRef, userId: string): Promise<boolean> {
    const client = this.client;
    if (!client?.isReady()) return false;
    return isThreadMemberOn(client, ref.thread, userId);
  }

  async showTyping(ref: ConversationRef): Promise<void> {
    try {
      await this.rest().post(Routes.channelTyping(ref.thread));
    } catch (error) {
      throw toPlatformSendError(error, 'showing typing');
    }
  }

  private async login(client: Client): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      client.once(Events.ClientReady, () => resolve());
      timer = setTimeout(
        () => reject(new Error(`discord gateway not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await client.login(this.#token);
      await ready;
    } finally {
      clearTimeout(timer);
    }
  }

  private rest() {
    if (!this.client) throw toPlatformSendError(new Error('the Discord adapter is not running'), 'Discord');
    return this.client.rest;
  }

  private bodyOf(outbound: OutboundMessage, mode: 'create' | 'edit'): RESTPostAPIChannelMessageJSONBody {
    if (outbound.kind === 'prompt') {
      return { content: '', ...promptMessageBody(outbound.prompt), allowed_mentions: noPings };
    }
    const message = outbound;
    if (message.kind === 'board') {
      return { content: '', ...boardMessageBody(message.board), allowed_mentions: noPings };
    }
    if (message.text.length > maxMessageChars) {
      // The gateway chunks to `limits`; this only guards against a caller that did not.
      this.options.logger.warn({ chars: message.text.length }, 'discord message over 2,000 characters cut');
    }
    const content = cutText(message.text, maxMessageChars);
    // An edit from a board to text must clear the embed and buttons.
    if (mode === 'edit') return { content, embeds: [], components: [], allowed_mentions: noPings };
    const reference = message.replyTo
      ? { message_reference: { message_id: message.replyTo, fail_if_not_exists: false } }
      : {};
    return { content, allowed_mentions: noPings, ...reference };
  }

  private contextFor(client: Client<true>, sink: GatewaySink): DiscordContext {
    const { config, logger } = this.options;
    return {
      client,
      sink,
      config,
      logger,
      postText: async (channelId, text, replyToMessageId) => {
        // Through the gateway's one outbound path (redacted, split, retried); a channel or thread alike.
        const ref = { platform: discordPlatform, channel: channelId, thread: channelId };
        try {
          await sink.post(ref, {
            kind: 'text',
            text,
            ...(replyToMessageId ? { replyTo: replyToMessageId } : {}),
          });
        } catch (error) {
          logger.warn({ err: error, channel: channelId }, 'posting to discord failed');
        }
      },
      createThread: async (channelId, name, fromMessageId) => {
        const thread = (await client.rest.post(Routes.threads(channelId, fromMessageId), {
          body: fromMessageId
            ? { name, auto_archive_duration: threadArchiveMinutes }
            : { name, type: ChannelType.PublicThread, auto_archive_duration: threadArchiveMinutes },
        })) as APIThreadChannel;
        return thread.id;
      },
    };
  }
}
