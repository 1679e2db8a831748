/**
 * Wire shapes of the fake Discord (API v10, snake_case as sent): users, members, channels, guilds and
 * messages, with the fields discord.js 14 reads, and the validation limits Discord applies to what a
 * bot posts, so a test fails the way production would.
 */

const discordEpoch = 1_420_070_400_000n;
let lastMillis = 0n;
let sequence = 0n;

/** A new, increasing snowflake id (timestamp << 22 | sequence). */
export function nextSnowflake(): string {
  const now = BigInt(Date.now()) - discordEpoch;
  if (now > lastMillis) {
    lastMillis = now;
    sequence = 0n;
  } else {
    sequence += 1n;
    if (sequence > 4095n) {
      lastMillis += 1n;
      sequence = 0n;
    }
  }
  return ((lastMillis << 22n) | sequence).toString();
}

export interface FakeUser {
  id: string;
  username: string;
  globalName: string;
  bot: boolean;
  /** Guild role ids (without @everyone). */
  roleIds: string[];
}

export interface FakeChannel {
  id: string;
  type: number;
  name: string;
  guild_id: string;
  parent_id: string | null;
  /** Threads only. */
  owner_id?: string;
  thread_metadata?: Record<string, unknown>;
}

export const channelTypes = { text: 0, publicThread: 11, privateThread: 12 } as const;

/** A message as stored and sent back (what Discord returns for it, minus fields discord.js ignores). */
export interface FakeMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  author: ReturnType<typeof userJson>;
  content: string;
  embeds: Array<Record<string, unknown>>;
  components: Array<Record<string, unknown>>;
  flags: number;
  nonce?: string | number;
  timestamp: string;
  edited_timestamp: string | null;
  type: number;
  mentions: Array<ReturnType<typeof userJson>>;
  mention_roles: string[];
  mention_everyone: boolean;
  attachments: unknown[];
  pinned: boolean;
  tts: boolean;
  message_reference?: Record<string, unknown>;
  /** How many times the message was edited (fake bookkeeping, not sent by Discord). */
  editCount: number;
}

export function userJson(user: FakeUser) {
  return {
    id: user.id,
    username: user.username,
    global_name: user.globalName,
    discriminator: '0',
    avatar: null,
    bot: user.bot,
    public_flags: 0,
  };
}

export function memberJson(user: FakeUser, joinedAt: string, withUser = false) {
  return {
    ...(withUser ? { user: userJson(user) } : {}),
    roles: user.roleIds,
    nick: null,
    avatar: null,
    joined_at: joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
  };
}

export function roleJson(id: string, name: string, position: number) {
  return {
    id,
    name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions: '1071698660929',
    managed: false,
    mentionable: false,
    flags: 0,
  };
}

export function channelJson(channel: FakeChannel) {
  return {
    ...channel,
    position: 0,
    permission_overwrites: [],
    nsfw: false,
    topic: null,
    last_message_id: null,
    rate_limit_per_user: 0,
    flags: 0,
    ...(channel.thread_metadata ? { message_count: 0, member_count: 1, total_message_sent: 0 } : {}),
  };
}

/** What a message sent over the wire carries (the fake's bookkeeping removed). */
export function messageJson(message: FakeMessage) {
  const { editCount: _editCount, ...wire } = message;
  return wire;
}

/** Discord's answer to an invalid body: 400 with code 50035 and the offending fields. */
export interface ValidationFailure {
  status: number;
  code: number;
  message: string;
}

const invalidForm = (field: string, detail: string): ValidationFailure => ({
  status: 400,
  code: 50035,
  message: `Invalid Form Body\n${field}: ${detail}`,
});

/** Checks a message body against Discord's limits (content, embeds, action rows of buttons). */
export function validateMessageBody(
  body: Record<string, unknown>,
  creating: boolean,
): ValidationFailure | null {
  const content = body.content;
  if (content !== undefined && content !== null && typeof content !== 'string') {
    return invalidForm('content', 'must be a string');
  }
  if (typeof content === 'string' && content.length > 2000) {
    return invalidForm('content', 'Must be 2000 or fewer in length.');
  }
  const embeds = (body.embeds ?? []) as Array<Record<string, unknown>>;
  const components = (body.components ?? []) as Array<Record<string, unknown>>;
  if (creating && !content && embeds.length === 0 && components.length === 0) {
    return { status: 400, code: 50006, message: 'Cannot send an empty message' };
  }
  if (embeds.length > 10) return invalidForm('embeds', 'Must be 10 or fewer in length.');
  for (const embed of embeds) {
    const failure = validateEmbed(embed);
    if (failure) return failure;
  }
  if (components.length > 5) return invalidForm('components', 'Must be 5 or fewer in length.');
  const customIds = new Set<string>();
  for (const row of components) {
    const buttons = (row.components ?? []) as Array<Record<string, unknown>>;
    if (row.type !== 1) return invalidForm('components', 'top-level components must be action rows');
    if (buttons.length === 0 || buttons.length > 5) return invalidForm('components', '1 to 5 buttons a row');
    for (const button of buttons) {
      const customId = String(button.custom_id ?? '');
      if (button.type !== 2) return invalidForm('components', 'expected a button');
      if (customId.length === 0 || customId.length > 100) return invalidForm('custom_id', '1 to 100 chars');
      if (customIds.has(customId)) return invalidForm('custom_id', 'Component custom id is duplicated');
      customIds.add(customId);
      if (String(button.label ?? '').length > 80)
        return invalidForm('label', 'Must be 80 or fewer in length.');
    }
  }
  return null;
}

function validateEmbed(embed: Record<string, unknown>): ValidationFailure | null {
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const fields = (embed.fields ?? []) as Array<Record<string, unknown>>;
  const footer = (embed.footer ?? {}) as Record<string, unknown>;
  if (text(embed.title).length > 256) return invalidForm('embeds.title', 'Must be 256 or fewer in length.');
  if (text(embed.description).length > 4096)
    return invalidForm('embeds.description', 'Must be 4096 or fewer.');
  if (fields.length > 25) return invalidForm('embeds.fields', 'Must be 25 or fewer in length.');
  let total = text(embed.title).length + text(embed.description).length + text(footer.text).length;
  for (const field of fields) {
    const name = text(field.name);
    const value = text(field.value);
    if (name.length === 0 || name.length > 256) return invalidForm('embeds.fields.name', '1 to 256 chars');
    if (value.length === 0 || value.length > 1024)
      return invalidForm('embeds.fields.value', '1 to 1024 chars');
    total += name.length + value.length;
  }
  if (text(footer.text).length > 2048) return invalidForm('embeds.footer.text', 'Must be 2048 or fewer.');
  if (total > 6000) return invalidForm('embeds', 'Embed size exceeds maximum size of 6000');
  return null;
}

/** Checks one application command of a bulk overwrite: names, descriptions, option order and nesting. */
export function validateCommand(command: Record<string, unknown>): string | null {
  const namePattern = /^[-_\p{Ll}\p{N}]{1,32}$/u;
  const checkOptions = (options: Array<Record<string, unknown>>, where: string): string | null => {
    if (options.length > 25) return `${where}: more than 25 options`;
    let optionalSeen = false;
    for (const option of options) {
      if (!namePattern.test(String(option.name))) return `${where}: bad option name ${String(option.name)}`;
      const description = String(option.description ?? '');
      if (description.length < 1 || description.length > 100) return `${where}.${option.name}: description`;
      const nested = (option.options ?? []) as Array<Record<string, unknown>>;
      if (option.type === 1 || option.type === 2) {
        const failure = checkOptions(nested, `${where}.${option.name}`);
        if (failure) return failure;
        continue;
      }
      if (option.required === true && optionalSeen) return `${where}: required option after an optional one`;
      if (option.required !== true) optionalSeen = true;
      if (option.autocomplete === true && option.type !== 3 && option.type !== 4 && option.type !== 10) {
        return `${where}.${option.name}: autocomplete on a type that has none`;
      }
    }
    return null;
  };
  if (!namePattern.test(String(command.name))) return `bad command name ${String(command.name)}`;
  const description = String(command.description ?? '');
  if (description.length < 1 || description.length > 100) return `${String(command.name)}: description`;
  return checkOptions((command.options ?? []) as Array<Record<string, unknown>>, String(command.name));
}

/** An answer of the fake's REST API. */
export interface RestReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A Discord API error (`{message, code}` with an HTTP status), thrown inside a route handler. */
export class DiscordFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export const messageFlags = { ephemeral: 64, loading: 128 } as const;

export function ok(body: unknown): RestReply {
  return { status: 200, body };
}

export function throwIfInvalid(failure: ValidationFailure | null): void {
  if (failure) throw new DiscordFailure(failure.status, failure.code, failure.message);
}

/** Applies a PATCH body to a stored message. */
export function applyEdit(message: FakeMessage, body: Record<string, unknown>): void {
  if ('content' in body) message.content = typeof body.content === 'string' ? body.content : '';
  if ('embeds' in body) message.embeds = (body.embeds ?? []) as FakeMessage['embeds'];
  if ('components' in body) message.components = (body.components ?? []) as FakeMessage['components'];
  message.edited_timestamp = new Date().toISOString();
  message.editCount += 1;
}
