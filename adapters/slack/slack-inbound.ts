import type { BatonConfig } from '../../src/config/schema.ts';
import {
  type ChatUser,
  type ConversationRef,
  type GatewaySink,
  pressedPromptCommand,
} from '../../src/gateway/chat-adapter.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { toWellFormed } from '../../src/well-formed-text.ts';
import { cancelActionId, refreshActionId } from './slack-board-blocks.ts';
import { mentionCommandText, plainTextOf } from './slack-inbound-text.ts';
import { fitMrkdwn } from './slack-mrkdwn.ts';
import {
  blockActionsSchema,
  eventCallbackSchema,
  mentionEventSchema,
  messageEventSchema,
  slashCommandSchema,
} from './slack-payloads.ts';
import { threadTsOf } from './slack-poster.ts';
import type { SlackUserNames } from './slack-user-names.ts';

/** Who the bot is in its workspace (from `auth.test`). */
export interface SlackIdentity {
  botUserId: string;
  botId: string;
  teamId: string | undefined;
}

/** Bolt's `respond` for a slash command, narrowed to what Baton sends. */
export type SlashRespond = (message: {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
}) => Promise<unknown>;

export interface SlackInboundOptions {
  sink: GatewaySink;
  names: SlackUserNames;
  identity: SlackIdentity;
  config: BatonConfig['slack'];
  maxChars: number;
  logger: Logger;
  /** Runs work after Slack was acknowledged (commands can take seconds); the adapter awaits it on stop. */
  background(work: () => Promise<unknown>): void;
}

const platform = 'slack';
/** Message subtypes that are still a person writing; every other subtype (edits, joins, bots) is not. */
const personSubtypes = new Set(['thread_broadcast', 'file_share']);
/** A response_url takes at most five messages. */
const maxResponses = 5;
/** How long a handled message is remembered, so a redelivery to this process does nothing. */
const handledMemoryMs = 10 * 60_000;

/**
 * Slack events, slash commands and button presses, turned into gateway turns and commands. Each handler
 * does only the quick part before returning (Bolt acknowledges Slack when it returns, in HTTP mode):
 * a turn is queued by the sink; answering a command happens in the background.
 */
export class SlackInbound {
  private readonly handled = new RecentKeys(handledMemoryMs);

  constructor(private readonly options: SlackInboundOptions) {}

  /**
   * `@Baton …` in a channel or thread: a turn in the thread under the mention (or the thread it is in),
   * or a chat command when the words are one. A person not allowed gets an ephemeral refusal.
   */
  async mention(body: unknown, event: unknown): Promise<void> {
    const parsed = mentionEventSchema.safeParse(event);
    if (!parsed.success) return this.skip('app_mention', parsed.error);
    const mention = parsed.data;
    const { botUserId } = this.options.identity;
    const author = mention.user;
    if (!author || mention.bot_id || author === botUserId) return;
    // The message's own identity: an app_mention and a message event of one message, or Slack's
    // retries of either, all come down to this, and the gateway takes one turn per event id.
    const key = `${mention.channel}:${mention.ts}`;
    await this.once(key, async () => {
      const ref: ConversationRef = {
        platform,
        channel: mention.channel,
        thread: mention.thread_ts ?? mention.ts,
      };
      const text = plainTextOf(mention.text, botUserId);
      const user = await this.userOf(author, this.teamOfEvent(mention, body));
      const command = mentionCommandText(text, (words) => this.options.sink.commandTextOf(words));
      if (command !== null) {
        // A command is about where the person is: the thread, or (a mention at the top level) the channel.
        const asked = mention.thread_ts ? ref : { ...ref, thread: mention.channel };
        this.options.background(() => this.answerInThread(ref, user, command, mention.thread_ts, key, asked));
        return;
      }
      const outcome = await this.options.sink.onMessage({
        ref,
        user,
        text,
        messageId: mention.ts,
        eventId: key,
      });
      if (!outcome.accepted && outcome.refusal) {
        const refusal = outcome.refusal;
        this.options.background(() =>
          this.options.sink.notice(
            { ...ref, thread: mention.thread_ts ?? mention.channel },
            user.id,
            refusal,
          ),
        );
      }
    });
  }

  /** A message without the bot's mention: a turn only as a reply in a thread Baton converses in. */
  async message(body: unknown, event: unknown): Promise<void> {
    const parsed = messageEventSchema.safeParse(event);
    if (!parsed.success) return this.skip('message', parsed.error);
    const message = parsed.data;
    const { botUserId } = this.options.identity;
    if (message.subtype !== undefined && !personSubtypes.has(message.subtype)) return;
    const author = message.user;
    if (!author || message.bot_id || author === botUserId) return;
    if (!message.thread_ts || message.thread_ts === message.ts) return;
    // Slack also sends an app_mention for this message; that one is handled.
    if (message.text.includes(`<@${botUserId}>`) || message.text.includes(`<@${botUserId}|`)) return;
    if (this.options.config.require_mention_in_threads) return;
    const ref: ConversationRef = { platform, channel: message.channel, thread: message.thread_ts };
    if (!(await this.options.sink.knowsThread(ref))) return;
    const key = `${message.channel}:${message.ts}`;
    await this.once(key, async () => {
      const user = await this.userOf(author, this.teamOfEvent(message, body));
      const text = plainTextOf(message.text, botUserId);
      // A person not allowed who writes in the thread without mentioning Baton is left alone.
      await this.options.sink.onMessage({ ref, user, text, messageId: message.ts, eventId: key });
    });
  }

  /**
   * `/baton …`, after the acknowledgement: the router's reply through the command's response_url. That is
   * Slack's own answer to the command (no channel post, works where the bot is not a member), so the adapter
   * makes the call; the text is redacted and split by the gateway's outbound path (`chunksFor`).
   */
  async slashCommand(payload: unknown, respond: SlashRespond): Promise<void> {
    const parsed = slashCommandSchema.safeParse(payload);
    if (!parsed.success) return this.skip('slash command', parsed.error);
    const command = parsed.data;
    const user = await this.userOf(command.user_id, command.team_id, command.user_name);
    // A slash command has no thread (Slack sends none from threads): the channel is its conversation.
    const ref: ConversationRef = { platform, channel: command.channel_id, thread: command.channel_id };
    // The same signed request posted again (a retry, a replay) carries the same trigger_id: run it once.
    const reply = await this.options.sink.onCommand({
      ref,
      user,
      text: command.text.trim(),
      ...eventIdOf(command.trigger_id),
    });
    if (reply.duplicate) return;
    const response_type = reply.ephemeral ? 'ephemeral' : 'in_channel';
    for (const markdown of this.options.sink.chunksFor(ref, reply.text).slice(0, maxResponses)) {
      const text = fitMrkdwn(markdown, this.options.maxChars);
      if (text) await respond({ response_type, text });
    }
  }

  /** Cancel and Refresh on a task board, after the acknowledgement; the same access rules as commands. */
  async action(body: unknown): Promise<void> {
    const press = await this.pressOf(body);
    if (!press) return;
    const { ref, user, value: taskId, actionId, eventId } = press;
    const { sink } = this.options;
    if (actionId === cancelActionId) {
      const reply = await sink.onCommand({ ref, user, text: `cancel ${taskId}`, ...eventId });
      if (reply.duplicate) return;
      if (reply.ephemeral) await sink.notice(ref, user.id, reply.text);
      else await sink.post(ref, { kind: 'text', text: reply.text });
      return;
    }
    if (actionId === refreshActionId) {
      // `status` applies the access rules (the sink has no other way to ask): a public answer means the
      // person may look at this task, and then the board is re-rendered at once.
      const reply = await sink.onCommand({ ref, user, text: `status ${taskId}`, ...eventId });
      if (reply.duplicate) return;
      if (!reply.ephemeral) await sink.refreshBoard(ref);
      await sink.notice(ref, user.id, reply.text);
    }
  }

  /**
   * A prompt's button (a choice, Approve, Deny), after the acknowledgement: its value is the chat command it
   * stands for, sent as the person who pressed it, so the router decides who may answer or approve. A
   * refusal is shown to the presser only.
   */
  async promptAction(body: unknown): Promise<void> {
    const press = await this.pressOf(body);
    if (!press) return;
    const command = pressedPromptCommand(press.value);
    if (!command) return this.skip('block_actions', 'not a prompt button');
    await this.answerInThread(press.ref, press.user, command, threadTsOf(press.ref), press.eventId.eventId);
  }

  /** A button press: where (the message's thread), who pressed it, which button and its value; null if unreadable. */
  private async pressOf(body: unknown) {
    const parsed = blockActionsSchema.safeParse(body);
    if (!parsed.success) {
      this.skip('block_actions', parsed.error);
      return null;
    }
    const press = parsed.data;
    const action = press.actions[0]!;
    const channel = press.channel?.id ?? press.container?.channel_id;
    if (!channel) {
      this.skip('block_actions', 'no channel');
      return null;
    }
    const messageTs = press.container?.message_ts ?? press.message?.ts;
    const ref: ConversationRef = {
      platform,
      channel,
      thread: press.container?.thread_ts ?? press.message?.thread_ts ?? messageTs ?? channel,
    };
    const user = await this.userOf(
      press.user.id,
      press.user.team_id ?? press.team?.id,
      press.user.name ?? press.user.username,
    );
    return {
      ref,
      user,
      actionId: action.action_id,
      value: action.value ?? '',
      eventId: eventIdOf(press.trigger_id),
    };
  }

  private async answerInThread(
    ref: ConversationRef,
    user: ChatUser,
    text: string,
    threadTs: string | undefined,
    eventId: string | undefined,
    askedIn: ConversationRef = ref,
  ) {
    const { sink } = this.options;
    // The event id makes a redelivered mention-command (even to another gateway process) run once.
    const reply = await sink.onCommand({ ref: askedIn, user, text, ...(eventId ? { eventId } : {}) });
    if (reply.duplicate) return;
    if (reply.ephemeral) await sink.notice({ ...ref, thread: threadTs ?? ref.channel }, user.id, reply.text);
    else await sink.post(ref, { kind: 'text', text: reply.text });
  }

  /** Runs `work` for a message not handled yet; if it fails, the message is forgotten so Slack's redelivery runs it. */
  private async once(key: string, work: () => Promise<void>): Promise<void> {
    if (!this.handled.claim(key)) return;
    try {
      await work();
    } catch (error) {
      this.handled.release(key);
      throw error;
    }
  }

  private async userOf(userId: string, teamId: string | undefined, nameHint?: string): Promise<ChatUser> {
    const name = await this.options.names.nameOf(userId, nameHint);
    return { id: userId, name: toWellFormed(name), roleIds: [], ...(teamId ? { workspaceId: teamId } : {}) };
  }

  /** The writer's team: their own (shared channels), the event's, the envelope's, else the bot's. */
  private teamOfEvent(event: { user_team?: string; team?: string }, body: unknown): string | undefined {
    return event.user_team ?? event.team ?? teamOf(body) ?? this.options.identity.teamId;
  }

  private skip(what: string, reason: unknown): void {
    this.options.logger.warn({ reason: String(reason) }, `slack ${what} payload not understood; ignored`);
  }
}

/** A slash command's or button press's event id, from its trigger_id (namespaced apart from messages). */
function eventIdOf(triggerId: string | undefined): { eventId?: string } {
  return triggerId ? { eventId: `trigger:${triggerId}` } : {};
}

function teamOf(body: unknown): string | undefined {
  const parsed = eventCallbackSchema.safeParse(body);
  return parsed.success ? parsed.data.team_id : undefined;
}

/** Keys seen recently, each claimed once until it expires or is released. */
class RecentKeys {
  private readonly seen = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  claim(key: string): boolean {
    const now = Date.now();
    if (this.seen.size > 1000) {
      for (const [seenKey, at] of this.seen) if (now - at > this.ttlMs) this.seen.delete(seenKey);
    }
    const at = this.seen.get(key);
    if (at !== undefined && now - at <= this.ttlMs) return false;
    this.seen.set(key, now);
    return true;
  }

  release(key: string): void {
    this.seen.delete(key);
  }
}
