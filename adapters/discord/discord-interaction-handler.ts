import {
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  MessageFlags,
  type RepliableInteraction,
} from 'discord.js';
import type { ChatUser, CommandReply, ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { cutText, oneLine } from '../../src/text/cut-text.ts';
import { toWellFormed } from '../../src/well-formed-text.ts';
import { parseBoardButtonId } from './discord-board.ts';
import {
  chatUserOf,
  type DiscordContext,
  type DiscordPlace,
  placeOf,
  RecentIds,
  refOf,
  refusalText,
} from './discord-context.ts';
import { parsePromptButtonId } from './discord-prompt.ts';
import { maxMessageChars, threadNameFor } from './discord-text.ts';

/** The chat command of a `/task` subcommand: `steer <id> <message>`, `answer <id> <text>`, `deny <id> [reason]`, … */
export function taskCommandText(
  subcommand: string,
  id: string,
  option: (name: string) => string | null,
): string {
  const words = [subcommand, id];
  const extra = { steer: 'message', answer: 'text', deny: 'reason' }[subcommand];
  const value = extra ? option(extra)?.trim() : undefined;
  if (value) words.push(value);
  return words.join(' ');
}

/** Answer directly when the gateway answers this fast; otherwise defer first (Discord allows 3 s). */
const quickAnswerMs = 1500;
const maxChoices = 25;

type GuildInteraction<T> = T & { guildId: string };

/**
 * Slash commands, board buttons and id autocomplete. `/ask` and button presses are checked against the
 * access rules before anything visible happens; every refusal is ephemeral. `/tasks` and `/task …` become
 * the gateway's chat commands (`tasks`, `status <id>`, `steer <id> <message>`, …).
 */
export class DiscordInteractionHandler {
  private readonly recent = new RecentIds();

  constructor(private readonly context: DiscordContext) {}

  async handle(interaction: Interaction): Promise<void> {
    // A replayed INTERACTION_CREATE (after a resume) was answered already; Discord would refuse a second answer.
    if (!this.recent.add(interaction.id)) return;
    if (!interaction.inGuild()) {
      if (interaction.isRepliable()) {
        await interaction.reply({
          content: 'Baton works in server channels.',
          flags: MessageFlags.Ephemeral,
        });
      }
      return;
    }
    try {
      if (interaction.isAutocomplete()) await this.autocomplete(interaction);
      else if (interaction.isChatInputCommand()) await this.slashCommand(interaction);
      else if (interaction.isButton()) await this.button(interaction);
    } catch (error) {
      this.context.logger.error({ err: error, interaction: interaction.type }, 'discord interaction failed');
      if (interaction.isRepliable()) await this.failed(interaction).catch(() => undefined);
    }
  }

  private async slashCommand(interaction: GuildInteraction<ChatInputCommandInteraction>): Promise<void> {
    if (interaction.commandName === 'ask') {
      await this.ask(interaction);
      return;
    }
    let text: string;
    if (interaction.commandName === 'tasks') {
      text = 'tasks';
    } else if (interaction.commandName === 'usage') {
      text = 'usage';
    } else if (interaction.commandName === 'task') {
      const subcommand = interaction.options.getSubcommand(true);
      const id = interaction.options.getString('id', true).replace(/\s+/g, '');
      text = taskCommandText(subcommand, id, (name) => interaction.options.getString(name));
    } else {
      await interaction.reply({ content: 'Unknown command.', flags: MessageFlags.Ephemeral });
      return;
    }
    const place = await this.placeOrRefuse(interaction);
    if (!place) return;
    const user = this.userOf(interaction);
    const ref = refOf(place);
    await this.answer(
      interaction,
      ref,
      this.context.sink.onCommand({ ref, user, text, eventId: interaction.id }),
    );
  }

  /** `/ask prompt:` — a new thread for the conversation (or this one), then the prompt as a turn in it. */
  private async ask(interaction: GuildInteraction<ChatInputCommandInteraction>): Promise<void> {
    const { context } = this;
    const prompt = toWellFormed(interaction.options.getString('prompt', true).trim());
    const place = await this.placeOrRefuse(interaction);
    if (!place) return;
    const user = this.userOf(interaction);
    if (!this.context.sink.isAllowed(user, refOf(place))) {
      await interaction.reply({ content: refusalText, flags: MessageFlags.Ephemeral });
      return;
    }
    await interaction.deferReply();
    const threadId =
      place.threadId ??
      (await context.createThread(place.channelId, threadNameFor(prompt, context.config.thread_name_prefix)));
    const ref = refOf({ ...place, threadId });
    await context.sink.claimThread(ref);
    if (place.threadId === null) {
      await context.sink.post(ref, { kind: 'text', text: `**${user.name}:** ${prompt}` });
    }
    const outcome = await context.sink.onMessage({
      ref,
      user,
      text: prompt,
      messageId: interaction.id,
      eventId: interaction.id,
    });
    if (!outcome.accepted) {
      if (outcome.refusal) {
        // The deferred reply is public; the refusal must not be.
        await interaction.deleteReply();
        await interaction.followUp({
          content: this.fitted(ref, outcome.refusal),
          flags: MessageFlags.Ephemeral,
        });
      } else {
        await interaction.editReply('Already on it.');
      }
      return;
    }
    const waiting =
      outcome.queuedBehind > 0
        ? ` (after ${outcome.queuedBehind} earlier message${outcome.queuedBehind === 1 ? '' : 's'})`
        : '';
    await interaction.editReply(
      this.fitted(
        ref,
        place.threadId === null
          ? `🧵 Continuing in <#${threadId}>${waiting}: ${cutText(oneLine(prompt), 300)}`
          : cutText(`>>> ${prompt}`, maxMessageChars - waiting.length) + waiting,
      ),
    );
  }

  /**
   * Board buttons: Cancel → `cancel <id>` (and a board refresh); Refresh → a board refresh (the gateway
   * edits it within one board interval) and `status <id>`, privately.
   */
  private async button(interaction: GuildInteraction<ButtonInteraction>): Promise<void> {
    const promptCommand = parsePromptButtonId(interaction.customId);
    if (promptCommand) {
      await this.promptButton(interaction, promptCommand);
      return;
    }
    const parsed = parseBoardButtonId(interaction.customId);
    if (!parsed) {
      await interaction.reply({ content: 'That button is not Baton’s.', flags: MessageFlags.Ephemeral });
      return;
    }
    const presser = await this.presserOrRefuse(interaction);
    if (!presser) return;
    const { user, ref } = presser;
    const { sink } = this.context;
    const refreshBoard = () =>
      sink
        .refreshBoard(ref)
        .catch((error: unknown) =>
          this.context.logger.warn({ err: error, thread: ref.thread }, 'refreshing a task board failed'),
        );
    if (parsed.action === 'cancel') {
      const command = { ref, user, text: `cancel ${parsed.taskId}`, eventId: interaction.id };
      const work = sink.onCommand(command).then(async (reply) => {
        await refreshBoard();
        return reply;
      });
      await this.answer(interaction, ref, work);
    } else {
      const work = refreshBoard()
        .then(() => sink.onCommand({ ref, user, text: `status ${parsed.taskId}`, eventId: interaction.id }))
        .then((reply): CommandReply => ({ ...reply, ephemeral: true }));
      await this.answer(interaction, ref, work);
    }
  }

  /** Who pressed a button, and where: null (answered with a refusal) for a place or person Baton does not serve. */
  private async presserOrRefuse(interaction: GuildInteraction<ButtonInteraction>) {
    const place = await this.placeOrRefuse(interaction);
    if (!place) return null;
    const user = this.userOf(interaction);
    const ref = refOf(place);
    if (!this.context.sink.isAllowed(user, ref)) {
      await interaction.reply({ content: refusalText, flags: MessageFlags.Ephemeral });
      return null;
    }
    return { user, ref };
  }

  /**
   * A prompt's button (a choice, Approve, Deny): the chat command it stands for, sent as the person who
   * pressed it, so the router decides who may answer or approve; a refusal is ephemeral.
   */
  private async promptButton(interaction: GuildInteraction<ButtonInteraction>, text: string): Promise<void> {
    const presser = await this.presserOrRefuse(interaction);
    if (!presser) return;
    const { user, ref } = presser;
    await this.answer(
      interaction,
      ref,
      this.context.sink.onCommand({ ref, user, text, eventId: interaction.id }),
    );
  }

  /**
   * Task ids for `id:`, newest first, scoped like `/tasks`: inside a thread its tasks, in the channel the
   * tasks of threads the person may see (a private thread's only for its members); only those the
   * subcommand can act on for the others (see idChoiceStatuses).
   */
  private async autocomplete(interaction: GuildInteraction<AutocompleteInteraction>): Promise<void> {
    const focused = interaction.options.getFocused(true);
    const place = focused.name === 'id' ? await placeOf(this.context.client, interaction.channelId) : null;
    const user = this.userOf(interaction);
    if (!place) {
      await interaction.respond([]);
      return;
    }
    const subcommand = interaction.options.getSubcommand(false);
    const suggestions = await this.context.sink
      .suggestTasks(refOf(place), user, {
        ...(subcommand ? { command: subcommand } : {}),
        typed: String(focused.value),
        limit: maxChoices,
      })
      .catch((error: unknown) => {
        this.context.logger.warn({ err: error }, 'task id suggestions failed');
        return [];
      });
    const choices = suggestions.map((task) => ({ name: cutText(task.label, 100), value: task.taskId }));
    await interaction.respond(choices);
  }

  /**
   * Replies with the gateway's answer, ephemeral when it says so. Slow answers (a cancel waits for the
   * child to stop) are deferred ephemerally first; a public answer then replaces the placeholder. The
   * answer is the interaction's own response (Discord ties it to the interaction's token), so the adapter
   * makes the calls; the text is redacted and split by the gateway's outbound path (`chunksFor`).
   */
  private async answer(
    interaction: RepliableInteraction,
    ref: ConversationRef,
    work: Promise<CommandReply>,
  ): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const quick = await Promise.race([
      work,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), quickAnswerMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const reply = quick ?? (await this.deferThen(interaction, work));
    // The gateway ran this command already (the same interaction delivered twice): the first one answers.
    if (reply.duplicate) {
      if (interaction.deferred) await interaction.deleteReply();
      return;
    }
    const [first = '(no reply)', ...rest] = this.context.sink.chunksFor(ref, reply.text || '(no reply)');
    const flags = reply.ephemeral ? MessageFlags.Ephemeral : undefined;
    if (!interaction.deferred) {
      await interaction.reply({ content: first, ...(flags ? { flags } : {}) });
    } else if (reply.ephemeral) {
      await interaction.editReply(first);
    } else {
      await interaction.deleteReply();
      await interaction.followUp({ content: first });
    }
    for (const chunk of rest) await interaction.followUp({ content: chunk, ...(flags ? { flags } : {}) });
  }

  /** One interaction message's worth of text, redacted as the outbound path does (the first piece). */
  private fitted(ref: ConversationRef, text: string): string {
    return this.context.sink.chunksFor(ref, text)[0] ?? '';
  }

  private async deferThen(
    interaction: RepliableInteraction,
    work: Promise<CommandReply>,
  ): Promise<CommandReply> {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    return work;
  }

  private async placeOrRefuse(
    interaction: GuildInteraction<RepliableInteraction>,
  ): Promise<DiscordPlace | null> {
    const place = interaction.channelId ? await placeOf(this.context.client, interaction.channelId) : null;
    if (!place) {
      await interaction.reply({ content: "I can't see this channel.", flags: MessageFlags.Ephemeral });
    }
    return place;
  }

  private userOf(interaction: GuildInteraction<Interaction>): ChatUser {
    return chatUserOf(interaction.user, interaction.member, interaction.guildId);
  }

  private async failed(interaction: RepliableInteraction): Promise<void> {
    const content = '⚠️ Something went wrong handling that. Please try again.';
    // A deferred reply (public for /ask) shows "thinking…" until it is edited: replace it.
    if (interaction.deferred && !interaction.replied) {
      await interaction.editReply(content);
    } else if (interaction.replied) {
      await interaction.followUp({ content, flags: MessageFlags.Ephemeral });
    } else {
      await interaction.reply({ content, flags: MessageFlags.Ephemeral });
    }
  }
}
