import {
  applyEdit,
  channelJson,
  DiscordFailure,
  type FakeChannel,
  type FakeMessage,
  type FakeUser,
  memberJson,
  messageFlags,
  messageJson,
  nextSnowflake,
  ok,
  type RestReply,
  throwIfInvalid,
  validateMessageBody,
} from './fake-discord-payloads.ts';

/**
 * Interactions of the fake Discord: building INTERACTION_CREATE payloads (slash commands, buttons,
 * autocomplete) and answering the responses a bot makes to them — the callback (within Discord's 3 s
 * window, once), then edits, deletes and follow-ups through the interaction's webhook.
 */

export interface FakeInteraction {
  id: string;
  token: string;
  /** 2 application command, 3 component, 4 autocomplete. */
  type: number;
  user: FakeUser;
  channelId: string;
  createdAt: number;
  /** Initial responses (`POST /interactions/:id/:token/callback`) in order: `{type, data}`. */
  callbacks: Array<{ type: number; data: Record<string, unknown> }>;
  /** The original response message (type 4, or 5 then edited); null before. */
  original: FakeMessage | null;
  originalDeleted: boolean;
  followUps: FakeMessage[];
  /** Autocomplete choices sent back (type 8). */
  choices: Array<{ name: string; value: string | number }> | null;
  /** The INTERACTION_CREATE payload, for a repeated delivery. */
  payload: Record<string, unknown>;
}

/** One message a person saw in answer to an interaction. */
export interface InteractionReply {
  content: string;
  ephemeral: boolean;
  embeds: Array<Record<string, unknown>>;
}

export interface CommandOptions {
  subcommand?: string;
  options?: Record<string, string | number | boolean>;
  /** For autocomplete: the option being typed. */
  focused?: string;
}

/** What interactions need from the rest of the fake. */
export interface InteractionWorld {
  guildId: string;
  applicationId: string;
  botUser: FakeUser;
  joinedAt: string;
  deadlineMs: number;
  channel(id: string): FakeChannel | undefined;
  storeMessage(author: FakeUser, channelId: string, body: Record<string, unknown>): FakeMessage;
  removeFromChannel(message: FakeMessage): void;
  dispatch(type: string, data: unknown): void;
}

const botPermissions = '2248473465835073';

export class FakeInteractions {
  readonly all = new Map<string, FakeInteraction>();

  constructor(private readonly world: InteractionWorld) {}

  /** Dispatches INTERACTION_CREATE and returns the record the bot's responses land in. */
  create(
    user: FakeUser,
    channelId: string,
    type: number,
    data: Record<string, unknown>,
    message?: FakeMessage,
  ): FakeInteraction {
    const { world } = this;
    const channel = world.channel(channelId);
    if (!channel) throw new Error(`fake discord: no channel ${channelId}`);
    const interaction: FakeInteraction = {
      id: nextSnowflake(),
      token: `interaction-token-${nextSnowflake()}`,
      type,
      user,
      channelId,
      createdAt: Date.now(),
      callbacks: [],
      original: null,
      originalDeleted: false,
      followUps: [],
      choices: null,
      payload: {},
    };
    this.all.set(interaction.id, interaction);
    interaction.payload = {
      id: interaction.id,
      application_id: world.applicationId,
      type,
      token: interaction.token,
      version: 1,
      guild_id: world.guildId,
      guild: { id: world.guildId, locale: 'en-US', features: [] },
      channel_id: channelId,
      channel: channelJson(channel),
      member: { ...memberJson(user, world.joinedAt, true), permissions: botPermissions },
      data,
      ...(message ? { message: messageJson(message) } : {}),
      app_permissions: botPermissions,
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': world.guildId },
      context: 0,
      attachment_size_limit: 10_485_760,
    };
    world.dispatch('INTERACTION_CREATE', interaction.payload);
    return interaction;
  }

  /** Dispatches the same INTERACTION_CREATE again (a duplicated delivery). */
  redeliver(interaction: FakeInteraction): void {
    this.world.dispatch('INTERACTION_CREATE', interaction.payload);
  }

  /** `data` of an application command (type 2) or its autocomplete (type 4, with the focused option). */
  commandData(name: string, command: CommandOptions, focused: string | undefined): Record<string, unknown> {
    const typeOf = (value: unknown) => (typeof value === 'boolean' ? 5 : typeof value === 'number' ? 10 : 3);
    const options = Object.entries(command.options ?? {}).map(([optionName, value]) => ({
      name: optionName,
      type: typeOf(value),
      value,
      ...(optionName === focused ? { focused: true } : {}),
    }));
    return {
      id: nextSnowflake(),
      name,
      type: 1,
      guild_id: this.world.guildId,
      options: command.subcommand ? [{ name: command.subcommand, type: 1, options }] : options,
    };
  }

  /** What the person saw: the original response (unless deleted or still loading) and follow-ups. */
  repliesTo(interaction: FakeInteraction): InteractionReply[] {
    const replies: InteractionReply[] = [];
    const { original } = interaction;
    if (original && !interaction.originalDeleted && !(original.flags & messageFlags.loading)) {
      replies.push(replyOf(original));
    }
    for (const followUp of interaction.followUps) replies.push(replyOf(followUp));
    return replies;
  }

  /** Answers `/interactions/…` and `/webhooks/:app/…` requests; null for any other path. */
  route(method: string, parts: string[], body: Record<string, unknown>): RestReply | null {
    const [root, first, second, third, fourth] = parts;
    if (root === 'interactions' && third === 'callback' && method === 'POST') {
      return this.callback(first!, second!, body);
    }
    if (root === 'webhooks' && first === this.world.applicationId && second) {
      const interaction = this.byToken(second);
      if (third === undefined && method === 'POST') return this.followUp(interaction, body);
      if (third === 'messages' && fourth) return this.webhookMessage(method, interaction, fourth, body);
    }
    return null;
  }

  private callback(id: string, token: string, body: Record<string, unknown>): RestReply {
    const interaction = this.all.get(id);
    if (!interaction || interaction.token !== token) {
      throw new DiscordFailure(404, 10062, 'Unknown interaction');
    }
    if (Date.now() - interaction.createdAt > this.world.deadlineMs) {
      throw new DiscordFailure(404, 10062, 'Unknown interaction');
    }
    if (interaction.callbacks.length > 0) {
      throw new DiscordFailure(400, 40060, 'Interaction has already been acknowledged.');
    }
    const type = Number(body.type);
    const data = (body.data ?? {}) as Record<string, unknown>;
    switch (type) {
      case 4:
        throwIfInvalid(validateMessageBody(data, true));
        interaction.original = this.responseMessage(interaction, data, Number(data.flags ?? 0));
        break;
      case 5:
        interaction.original = this.responseMessage(
          interaction,
          {},
          Number(data.flags ?? 0) | messageFlags.loading,
        );
        break;
      case 6:
        break;
      case 8: {
        const choices = (data.choices ?? []) as FakeInteraction['choices'];
        if (!Array.isArray(choices) || choices.length > 25) {
          throw new DiscordFailure(400, 50035, 'Invalid Form Body\nchoices: Must be 25 or fewer in length.');
        }
        interaction.choices = choices;
        break;
      }
      default:
        throw new DiscordFailure(400, 50035, `Invalid Form Body\ntype: unsupported callback type ${type}`);
    }
    interaction.callbacks.push({ type, data });
    return { status: 204 };
  }

  private responseMessage(interaction: FakeInteraction, data: Record<string, unknown>, flags: number) {
    const message = this.world.storeMessage(this.world.botUser, interaction.channelId, { ...data, flags });
    // Ephemeral responses are never part of the channel's history.
    if (flags & messageFlags.ephemeral) this.world.removeFromChannel(message);
    return message;
  }

  private byToken(token: string): FakeInteraction {
    const interaction = [...this.all.values()].find((candidate) => candidate.token === token);
    if (!interaction) throw new DiscordFailure(404, 10015, 'Unknown Webhook');
    return interaction;
  }

  private followUp(interaction: FakeInteraction, body: Record<string, unknown>): RestReply {
    if (interaction.callbacks.length === 0) throw new DiscordFailure(404, 10015, 'Unknown Webhook');
    throwIfInvalid(validateMessageBody(body, true));
    const message = this.responseMessage(interaction, body, Number(body.flags ?? 0));
    interaction.followUps.push(message);
    return ok(messageJson(message));
  }

  private webhookMessage(
    method: string,
    interaction: FakeInteraction,
    messageId: string,
    body: Record<string, unknown>,
  ): RestReply {
    const target =
      messageId === '@original'
        ? interaction.original
        : (interaction.followUps.find((message) => message.id === messageId) ?? null);
    if (!target || (messageId === '@original' && interaction.originalDeleted)) {
      throw new DiscordFailure(404, 10008, 'Unknown Message');
    }
    if (method === 'GET') return ok(messageJson(target));
    if (method === 'DELETE') {
      if (messageId === '@original') interaction.originalDeleted = true;
      this.world.removeFromChannel(target);
      return { status: 204 };
    }
    if (method === 'PATCH') {
      throwIfInvalid(validateMessageBody(body, false));
      applyEdit(target, body);
      target.flags &= ~messageFlags.loading;
      return ok(messageJson(target));
    }
    throw new DiscordFailure(405, 0, '405: Method Not Allowed');
  }
}

function replyOf(message: FakeMessage): InteractionReply {
  return {
    content: message.content,
    ephemeral: (message.flags & messageFlags.ephemeral) !== 0,
    embeds: message.embeds,
  };
}
