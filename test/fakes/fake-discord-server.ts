import http from 'node:http';
import { listenOnLoopback } from '../../src/net/listen-on-loopback.ts';
import { FakeDiscordGateway, type FakeGatewayStats } from './fake-discord-gateway.ts';
import {
  type CommandOptions,
  type FakeInteraction,
  FakeInteractions,
  type InteractionReply,
} from './fake-discord-interactions.ts';
import {
  applyEdit,
  channelJson,
  channelTypes,
  DiscordFailure,
  type FakeChannel,
  type FakeMessage,
  type FakeUser,
  memberJson,
  messageJson,
  nextSnowflake,
  ok,
  type RestReply,
  roleJson,
  throwIfInvalid,
  userJson,
  validateCommand,
  validateMessageBody,
} from './fake-discord-payloads.ts';

export type { CommandOptions, FakeInteraction, InteractionReply } from './fake-discord-interactions.ts';
export type { FakeChannel, FakeMessage, FakeUser } from './fake-discord-payloads.ts';

/**
 * A fake Discord for tests: REST (`/api/v10/…`) and the gateway websocket on one 127.0.0.1 port, enough
 * of Discord's wire protocol for the real discord.js client. One guild with text
 * channels and roles; people write messages, run slash commands, press buttons and ask for autocomplete
 * through the methods below, which dispatch the gateway events Discord would. Every REST call is recorded
 * (method, decoded path, JSON body); faults can be injected per route; the websocket can be dropped.
 */

export interface RecordedDiscordCall {
  index: number;
  method: string;
  /** Decoded, without `/api/v10`: `/webhooks/1/tok/messages/@original`. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** The status the fake answered with. */
  status: number;
  at: number;
}

export interface DiscordFault {
  method?: string;
  path: RegExp;
  status: number;
  /** For 429: seconds sent as `Retry-After` and `retry_after`. */
  retryAfterSeconds?: number;
  /** Carry out the request, then fail anyway (a 5xx after the write landed). */
  landed?: boolean;
  /** How many matching requests fail; default 1. */
  times?: number;
  /** Text (a token, say) echoed in the error body and an `x-echo` header, as careless servers do. */
  echo?: string;
}

export interface FakeDiscordServerOptions {
  token?: string;
  applicationId?: string;
  heartbeatIntervalMs?: number;
  /** Discord's window for the first interaction response; later ones get 404 Unknown interaction. */
  interactionDeadlineMs?: number;
}

/** How long Discord remembers a nonce sent with `enforce_nonce` (a few minutes). */
const nonceWindowMs = 5 * 60_000;

export class FakeDiscordServer {
  readonly token: string;
  readonly applicationId: string;
  readonly botUser: FakeUser;
  readonly guildId = nextSnowflake();
  readonly calls: RecordedDiscordCall[] = [];
  /** Bulk overwrites received: global (`null` when none) and per guild. */
  readonly registeredCommands: {
    global: Array<Record<string, unknown>> | null;
    guilds: Map<string, Array<Record<string, unknown>>>;
  } = { global: null, guilds: new Map() };
  port = 0;
  private readonly server: http.Server;
  private readonly gateway: FakeDiscordGateway;
  private readonly users = new Map<string, FakeUser>();
  private readonly roles = new Map<string, string>();
  private readonly channels = new Map<string, FakeChannel>();
  private readonly messages = new Map<string, FakeMessage[]>();
  /** Messages made before this time (epoch ms) are past the nonce window (`expireNonces`). */
  private nonceHorizon = 0;
  /** Members of threads people made (addThread); threads the bot made count only the bot. */
  private readonly threadMembers = new Map<string, Set<string>>();
  private readonly faults: Array<DiscordFault & { remaining: number }> = [];
  private readonly joinedAt = new Date().toISOString();
  private readonly interactions: FakeInteractions;

  constructor(options: FakeDiscordServerOptions = {}) {
    this.token = options.token ?? 'fake-discord-bot-token.secret';
    this.applicationId = options.applicationId ?? nextSnowflake();
    this.botUser = { id: this.applicationId, username: 'Baton', globalName: 'Baton', bot: true, roleIds: [] };
    this.users.set(this.botUser.id, this.botUser);
    this.roles.set(this.guildId, '@everyone');
    this.gateway = new FakeDiscordGateway({
      token: this.token,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
      newId: () => `session-${nextSnowflake()}`,
      readyPayload: (sessionId) => ({
        v: 10,
        user: userJson(this.botUser),
        guilds: [{ id: this.guildId, unavailable: true }],
        session_id: sessionId,
        session_type: 'normal',
        resume_gateway_url: `ws://127.0.0.1:${this.port}/resume-gateway`,
        shard: [0, 1],
        application: { id: this.applicationId, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        user_settings: {},
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
      }),
      guildPayloads: () => [this.guildCreatePayload()],
    });
    this.interactions = new FakeInteractions({
      guildId: this.guildId,
      applicationId: this.applicationId,
      botUser: this.botUser,
      joinedAt: this.joinedAt,
      deadlineMs: options.interactionDeadlineMs ?? 3000,
      channel: (id) => this.channels.get(id),
      storeMessage: (author, channelId, body) => this.storeMessage(author, channelId, body),
      removeFromChannel: (message) => this.removeFromChannel(message),
      dispatch: (type, data) => this.gateway.dispatch(type, data),
    });
    this.server = http.createServer((request, response) => void this.handle(request, response));
    this.server.on('upgrade', (request, socket, head) => this.gateway.handleUpgrade(request, socket, head));
  }

  /** REST base for `new Client({ rest: { api } })`: `http://127.0.0.1:P/api`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  get gatewayStats(): FakeGatewayStats {
    return this.gateway.stats;
  }

  async listen(): Promise<void> {
    this.port = await listenOnLoopback(this.server);
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ── World ────────────────────────────────────────────────────────────────────────────────────

  addRole(name: string): string {
    const id = nextSnowflake();
    this.roles.set(id, name);
    return id;
  }

  addUser(username: string, options: { roleIds?: string[]; bot?: boolean } = {}): FakeUser {
    const user: FakeUser = {
      id: nextSnowflake(),
      username: username.toLowerCase(),
      globalName: username,
      bot: options.bot ?? false,
      roleIds: options.roleIds ?? [],
    };
    this.users.set(user.id, user);
    return user;
  }

  addTextChannel(name: string): string {
    const id = nextSnowflake();
    this.channels.set(id, { id, type: channelTypes.text, name, guild_id: this.guildId, parent_id: null });
    return id;
  }

  /**
   * A thread a person made in a text channel (THREAD_CREATE is dispatched). A private one is seen only by
   * its members; the bot is always one, as when someone adds it.
   */
  addThread(
    parentId: string,
    name: string,
    options: { private?: boolean; memberIds?: string[] } = {},
  ): FakeChannel {
    const id = nextSnowflake();
    const now = new Date().toISOString();
    const thread: FakeChannel = {
      id,
      type: options.private ? channelTypes.privateThread : channelTypes.publicThread,
      name,
      guild_id: this.guildId,
      parent_id: parentId,
      owner_id: options.memberIds?.[0] ?? this.botUser.id,
      thread_metadata: {
        archived: false,
        auto_archive_duration: 1440,
        archive_timestamp: now,
        locked: false,
        create_timestamp: now,
        ...(options.private ? { invitable: false } : {}),
      },
    };
    this.channels.set(id, thread);
    this.threadMembers.set(id, new Set([...(options.memberIds ?? []), this.botUser.id]));
    this.gateway.dispatch('THREAD_CREATE', { ...channelJson(thread), newly_created: true });
    return thread;
  }

  channel(id: string): FakeChannel | undefined {
    return this.channels.get(id);
  }

  threads(): FakeChannel[] {
    return [...this.channels.values()].filter((channel) => channel.thread_metadata !== undefined);
  }

  messagesIn(channelId: string): FakeMessage[] {
    return this.messages.get(channelId) ?? [];
  }

  /** Messages the bot posted in a channel or thread (interaction responses not included). */
  /** Every nonce sent so far is past Discord's window, as after a few minutes: a repeat is created anew. */
  expireNonces(): void {
    this.nonceHorizon = Date.now() + 1;
  }

  botMessagesIn(channelId: string): FakeMessage[] {
    return this.messagesIn(channelId).filter((message) => message.author.id === this.botUser.id);
  }

  message(channelId: string, messageId: string): FakeMessage | undefined {
    return this.messagesIn(channelId).find((message) => message.id === messageId);
  }

  /** Calls of one method whose decoded path matches. */
  callsTo(method: string, path: RegExp): RecordedDiscordCall[] {
    return this.calls.filter((call) => call.method === method && path.test(call.path));
  }

  failNext(fault: DiscordFault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  /** Drops the gateway websocket; see FakeDiscordGateway#drop. */
  dropConnection(code: 4000 | 1006 = 4000, replayOverlap = 0): void {
    this.gateway.drop(code, replayOverlap);
  }

  isGatewayConnected(): boolean {
    return this.gateway.isConnected();
  }

  // ── What people do ───────────────────────────────────────────────────────────────────────────

  /** A person (or another bot) posts a message; `<@id>` mentions in the text are listed as Discord does. */
  postMessage(author: FakeUser, channelId: string, content: string): FakeMessage {
    const message = this.storeMessage(author, channelId, { content });
    this.gateway.dispatch('MESSAGE_CREATE', this.messageEvent(message));
    return message;
  }

  /** The author edits a message: MESSAGE_UPDATE with the whole new message. */
  editMessage(message: FakeMessage, content: string): void {
    message.content = content;
    message.edited_timestamp = new Date().toISOString();
    message.mentions = this.mentionsIn(content);
    message.editCount += 1;
    this.gateway.dispatch('MESSAGE_UPDATE', this.messageEvent(message));
  }

  /** Dispatches the same MESSAGE_CREATE again (a duplicated delivery). */
  redeliver(message: FakeMessage): void {
    this.gateway.dispatch('MESSAGE_CREATE', this.messageEvent(message));
  }

  slashCommand(
    user: FakeUser,
    channelId: string,
    name: string,
    command: CommandOptions = {},
  ): FakeInteraction {
    return this.interactions.create(
      user,
      channelId,
      2,
      this.interactions.commandData(name, command, undefined),
    );
  }

  autocomplete(user: FakeUser, channelId: string, name: string, command: CommandOptions): FakeInteraction {
    return this.interactions.create(
      user,
      channelId,
      4,
      this.interactions.commandData(name, command, command.focused),
    );
  }

  pressButton(user: FakeUser, message: FakeMessage, customId: string): FakeInteraction {
    return this.interactions.create(
      user,
      message.channel_id,
      3,
      { custom_id: customId, component_type: 2 },
      message,
    );
  }

  /** Dispatches the same INTERACTION_CREATE again (a duplicated delivery). */
  redeliverInteraction(interaction: FakeInteraction): void {
    this.interactions.redeliver(interaction);
  }

  /** What the person saw in answer to an interaction: the original response and follow-ups. */
  repliesTo(interaction: FakeInteraction): InteractionReply[] {
    return this.interactions.repliesTo(interaction);
  }

  // ── Gateway payloads ─────────────────────────────────────────────────────────────────────────

  private guildCreatePayload(): Record<string, unknown> {
    const all = [...this.channels.values()];
    let position = 0;
    return {
      id: this.guildId,
      name: 'Ops',
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: nextSnowflake(),
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [...this.roles].map(([id, name]) => roleJson(id, name, position++)),
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      joined_at: this.joinedAt,
      large: false,
      unavailable: false,
      member_count: this.users.size,
      voice_states: [],
      members: [memberJson(this.botUser, this.joinedAt, true)],
      channels: all.filter((channel) => !channel.thread_metadata).map(channelJson),
      threads: all.filter((channel) => channel.thread_metadata).map(channelJson),
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
    };
  }

  private messageEvent(message: FakeMessage): Record<string, unknown> {
    const author = this.users.get(message.author.id);
    return {
      ...messageJson(message),
      guild_id: this.guildId,
      ...(author ? { member: memberJson(author, this.joinedAt) } : {}),
      channel_type: this.channels.get(message.channel_id)?.type,
    };
  }

  private mentionsIn(content: string): FakeMessage['mentions'] {
    const ids = [...content.matchAll(/<@!?(\d+)>/g)].map((match) => match[1]!);
    return [...new Set(ids)]
      .map((id) => this.users.get(id))
      .filter((user): user is FakeUser => user !== undefined)
      .map(userJson);
  }

  private storeMessage(author: FakeUser, channelId: string, body: Record<string, unknown>): FakeMessage {
    const content = typeof body.content === 'string' ? body.content : '';
    const message: FakeMessage = {
      id: nextSnowflake(),
      channel_id: channelId,
      guild_id: this.guildId,
      author: userJson(author),
      content,
      embeds: (body.embeds ?? []) as FakeMessage['embeds'],
      components: (body.components ?? []) as FakeMessage['components'],
      flags: Number(body.flags ?? 0),
      ...(body.nonce !== undefined ? { nonce: body.nonce as string } : {}),
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      type: body.message_reference ? 19 : 0,
      mentions: this.mentionsIn(content),
      mention_roles: [],
      mention_everyone: false,
      attachments: [],
      pinned: false,
      tts: false,
      ...(body.message_reference
        ? { message_reference: body.message_reference as Record<string, unknown> }
        : {}),
      editCount: 0,
    };
    const list = this.messages.get(channelId) ?? [];
    list.push(message);
    this.messages.set(channelId, list);
    return message;
  }

  // ── REST ─────────────────────────────────────────────────────────────────────────────────────

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    const method = request.method ?? 'GET';
    const path = url.pathname
      .replace(/^\/api\/v10/, '')
      .split('/')
      .map((segment) => decodeURIComponent(segment))
      .join('/');
    const raw = await new Promise<string>((resolve) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      request.on('end', () => resolve(text));
    });
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const call: RecordedDiscordCall = {
      index: this.calls.length,
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      body,
      status: 0,
      at: Date.now(),
    };
    this.calls.push(call);
    const reply = this.answer(method, path, body, request.headers.authorization, call.query);
    call.status = reply.status;
    response.writeHead(reply.status, {
      ...(reply.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...reply.headers,
    });
    response.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }

  private answer(
    method: string,
    path: string,
    body: unknown,
    authorization: string | undefined,
    query: Record<string, string> = {},
  ): RestReply {
    const fault = this.faults.find(
      (candidate) =>
        candidate.remaining > 0 &&
        (candidate.method === undefined || candidate.method === method) &&
        candidate.path.test(path),
    );
    if (fault) fault.remaining -= 1;
    const faultReply = fault ? failureReply(fault) : null;
    if (faultReply && !fault!.landed) return faultReply;
    let reply: RestReply;
    try {
      const needsAuth = !path.startsWith('/interactions/') && !path.startsWith('/webhooks/');
      if (needsAuth && authorization !== `Bot ${this.token}`) {
        throw new DiscordFailure(401, 0, '401: Unauthorized');
      }
      reply = this.route(method, path, (body ?? {}) as Record<string, unknown>, query);
    } catch (error) {
      if (!(error instanceof DiscordFailure)) throw error;
      reply = { status: error.status, body: { message: error.message, code: error.code } };
    }
    return faultReply ?? reply;
  }

  private route(
    method: string,
    path: string,
    body: Record<string, unknown>,
    query: Record<string, string>,
  ): RestReply {
    const parts = path.split('/').slice(1);
    const [root, first, second, third, fourth] = parts;
    const key = `${method} /${[root, first && ':', second, third && ':', fourth]
      .filter((part) => part !== undefined)
      .join('/')}`;
    if (method === 'GET' && path === '/gateway/bot') {
      return ok({
        url: `ws://127.0.0.1:${this.port}`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      });
    }
    switch (key) {
      case 'GET /users/:':
        return ok(userJson(this.botUser));
      case 'GET /channels/:':
        return ok(channelJson(this.channelOrFail(first!)));
      case 'POST /channels/:/messages':
        return this.createMessage(first!, body);
      case 'GET /channels/:/messages':
        return this.listMessages(this.channelOrFail(first!), query);
      case 'GET /channels/:/messages/:':
        return ok(messageJson(this.messageOrFail(first!, third!)));
      case 'PATCH /channels/:/messages/:':
        return this.editBotMessage(this.messageOrFail(first!, third!), body);
      case 'DELETE /channels/:/messages/:':
        return this.deleteBotMessage(this.messageOrFail(first!, third!));
      case 'POST /channels/:/threads':
        return this.createThread(this.channelOrFail(first!), body, null);
      case 'POST /channels/:/messages/:/threads':
        return this.createThread(this.channelOrFail(first!), body, this.messageOrFail(first!, third!));
      case 'GET /channels/:/thread-members/:':
        return this.threadMember(this.channelOrFail(first!), third!);
      case 'POST /channels/:/typing':
        this.channelOrFail(first!);
        return { status: 204 };
      case 'PUT /applications/:/commands':
        return this.overwriteCommands(first!, null, body);
      case 'PUT /applications/:/guilds/:/commands':
        return this.overwriteCommands(first!, third!, body);
      default:
        return this.routeInteraction(method, parts, body);
    }
  }

  private routeInteraction(method: string, parts: string[], body: Record<string, unknown>): RestReply {
    const reply = this.interactions.route(method, parts, body);
    if (reply) return reply;
    throw new DiscordFailure(404, 0, `404: Not Found (fake discord has no ${method} /${parts.join('/')})`);
  }

  private removeFromChannel(message: FakeMessage): void {
    const list = this.messages.get(message.channel_id) ?? [];
    this.messages.set(
      message.channel_id,
      list.filter((candidate) => candidate !== message),
    );
  }

  private channelOrFail(id: string): FakeChannel {
    const channel = this.channels.get(id);
    if (!channel) throw new DiscordFailure(404, 10003, 'Unknown Channel');
    return channel;
  }

  private messageOrFail(channelId: string, messageId: string): FakeMessage {
    this.channelOrFail(channelId);
    const message = this.message(channelId, messageId);
    if (!message) throw new DiscordFailure(404, 10008, 'Unknown Message');
    return message;
  }

  private createMessage(channelId: string, body: Record<string, unknown>): RestReply {
    this.channelOrFail(channelId);
    throwIfInvalid(validateMessageBody(body, true));
    if (body.enforce_nonce === true) {
      if (body.nonce === undefined)
        throw new DiscordFailure(400, 50035, 'Invalid Form Body\nnonce: required');
      const earlier = this.messagesIn(channelId).find(
        (message) =>
          message.nonce === body.nonce &&
          message.author.id === this.botUser.id &&
          Date.now() - Date.parse(message.timestamp) < nonceWindowMs &&
          Date.parse(message.timestamp) >= this.nonceHorizon,
      );
      if (earlier) return ok(messageJson(earlier));
    }
    const message = this.storeMessage(this.botUser, channelId, body);
    this.gateway.dispatch('MESSAGE_CREATE', this.messageEvent(message));
    return ok(messageJson(message));
  }

  private editBotMessage(message: FakeMessage, body: Record<string, unknown>): RestReply {
    if (message.author.id !== this.botUser.id) {
      throw new DiscordFailure(403, 50005, 'Cannot edit a message authored by another user');
    }
    throwIfInvalid(validateMessageBody(body, false));
    applyEdit(message, body);
    this.gateway.dispatch('MESSAGE_UPDATE', this.messageEvent(message));
    return ok(messageJson(message));
  }

  /**
   * A channel's messages, newest first, as Discord lists them: `limit` (1–100, default 50) of those with ids
   * after `after`, or before `before`, or the latest.
   */
  private listMessages(channel: FakeChannel, query: Record<string, string>): RestReply {
    const limit = query.limit === undefined ? 50 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new DiscordFailure(
        400,
        50035,
        'Invalid Form Body\nlimit: int value should be between 1 and 100.',
      );
    }
    const idOf = (message: FakeMessage) => BigInt(message.id);
    let list = [...this.messagesIn(channel.id)].sort((first, second) =>
      idOf(first) < idOf(second) ? -1 : 1,
    );
    if (query.after !== undefined) {
      const after = BigInt(query.after);
      list = list.filter((message) => idOf(message) > after).slice(0, limit);
    } else if (query.before !== undefined) {
      const before = BigInt(query.before);
      list = list.filter((message) => idOf(message) < before).slice(-limit);
    } else {
      list = list.slice(-limit);
    }
    // A listed message carries no nonce: that is only in the answer to its create and in MESSAGE_CREATE.
    return ok(list.reverse().map((message) => ({ ...messageJson(message), nonce: undefined })));
  }

  /** The bot deletes its own message (it has no Manage Messages permission here): 204, MESSAGE_DELETE. */
  private deleteBotMessage(message: FakeMessage): RestReply {
    if (message.author.id !== this.botUser.id) throw new DiscordFailure(403, 50013, 'Missing Permissions');
    this.removeFromChannel(message);
    const channel = this.channels.get(message.channel_id);
    this.gateway.dispatch('MESSAGE_DELETE', {
      id: message.id,
      channel_id: message.channel_id,
      ...(channel?.guild_id ? { guild_id: channel.guild_id } : {}),
    });
    return { status: 204 };
  }

  private createThread(
    parent: FakeChannel,
    body: Record<string, unknown>,
    from: FakeMessage | null,
  ): RestReply {
    if (parent.type !== channelTypes.text) {
      throw new DiscordFailure(400, 50024, 'Cannot execute action on this channel type');
    }
    const name = String(body.name ?? '');
    if (name.length < 1 || name.length > 100) {
      throw new DiscordFailure(400, 50035, 'Invalid Form Body\nname: Must be between 1 and 100 in length.');
    }
    // A thread started from a message takes the message's id, as on Discord.
    const id = from ? from.id : nextSnowflake();
    if (this.channels.has(id)) {
      throw new DiscordFailure(400, 160004, 'A thread has already been created for this message');
    }
    const thread: FakeChannel = {
      id,
      type: from ? channelTypes.publicThread : Number(body.type ?? channelTypes.privateThread),
      name,
      guild_id: this.guildId,
      parent_id: parent.id,
      owner_id: this.botUser.id,
      thread_metadata: {
        archived: false,
        auto_archive_duration: Number(body.auto_archive_duration ?? 1440),
        archive_timestamp: new Date().toISOString(),
        locked: false,
        create_timestamp: new Date().toISOString(),
      },
    };
    this.channels.set(id, thread);
    this.gateway.dispatch('THREAD_CREATE', { ...channelJson(thread), newly_created: true });
    return { status: 201, body: channelJson(thread) };
  }

  /** GET /channels/{thread}/thread-members/{user}: the membership, or 404 Unknown Member. */
  private threadMember(thread: FakeChannel, userId: string): RestReply {
    if (!thread.thread_metadata)
      throw new DiscordFailure(400, 50024, 'Cannot execute action on this channel type');
    const members = this.threadMembers.get(thread.id) ?? new Set([this.botUser.id]);
    if (!members.has(userId)) throw new DiscordFailure(404, 10007, 'Unknown Member');
    return ok({ id: thread.id, user_id: userId, join_timestamp: new Date().toISOString(), flags: 0 });
  }

  private overwriteCommands(applicationId: string, guildId: string | null, body: unknown): RestReply {
    if (applicationId !== this.applicationId) throw new DiscordFailure(403, 50001, 'Missing Access');
    if (guildId !== null && guildId !== this.guildId) throw new DiscordFailure(404, 10004, 'Unknown Guild');
    if (!Array.isArray(body)) throw new DiscordFailure(400, 50035, 'Invalid Form Body\nexpected an array');
    for (const command of body as Array<Record<string, unknown>>) {
      const problem = validateCommand(command);
      if (problem) throw new DiscordFailure(400, 50035, `Invalid Form Body\n${problem}`);
    }
    const stored = (body as Array<Record<string, unknown>>).map((command) => ({
      ...command,
      id: nextSnowflake(),
      application_id: this.applicationId,
      version: nextSnowflake(),
      ...(guildId ? { guild_id: guildId } : {}),
    }));
    if (guildId) this.registeredCommands.guilds.set(guildId, stored);
    else this.registeredCommands.global = stored;
    return ok(stored);
  }
}

function failureReply(fault: DiscordFault): RestReply {
  if (fault.status === 429) {
    const retryAfter = fault.retryAfterSeconds ?? 0.2;
    return {
      status: 429,
      headers: { 'retry-after': String(retryAfter), 'x-ratelimit-scope': 'user' },
      body: { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
    };
  }
  if (fault.echo !== undefined) {
    return {
      status: fault.status,
      headers: { 'x-echo': fault.echo },
      body: { message: `fake failure ${fault.status}: ${fault.echo}`, code: 0, echoed: fault.echo },
    };
  }
  return { status: fault.status, body: { message: `fake failure ${fault.status}`, code: 0 } };
}

/** Starts a fake Discord with one guild, a text channel `#ops` and no people yet. */
export async function startFakeDiscordServer(
  options: FakeDiscordServerOptions = {},
): Promise<FakeDiscordServer & { opsChannelId: string }> {
  const server = new FakeDiscordServer(options);
  const opsChannelId = server.addTextChannel('ops');
  await server.listen();
  return Object.assign(server, { opsChannelId });
}
