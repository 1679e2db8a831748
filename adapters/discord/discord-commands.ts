import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type REST,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  Routes,
} from 'discord.js';
import { AdapterError } from '../../src/gateway/adapter-error.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { toPlatformSendError } from './discord-send-error.ts';

const taskIdOption = {
  type: ApplicationCommandOptionType.String,
  name: 'id',
  description: 'Task id, like t_7k2m9q',
  required: true,
  autocomplete: true,
  max_length: 20,
} as const;

const onlyInGuilds: Pick<RESTPostAPIChatInputApplicationCommandsJSONBody, 'contexts' | 'integration_types'> =
  {
    contexts: [InteractionContextType.Guild],
    integration_types: [ApplicationIntegrationType.GuildInstall],
  };

/**
 * Baton's slash commands (contract): `/ask prompt:`, `/tasks`, `/usage`,
 * `/task status|steer|cancel|collect|merge id: [message:]`, `/task answer id: text:`, `/task approve id:`,
 * `/task deny id: [reason:]`.
 */
export const slashCommands: RESTPostAPIChatInputApplicationCommandsJSONBody[] = [
  {
    type: ApplicationCommandType.ChatInput,
    name: 'ask',
    description: 'Ask Baton; the conversation continues in a thread',
    ...onlyInGuilds,
    options: [
      {
        type: ApplicationCommandOptionType.String,
        name: 'prompt',
        description: 'What you want Baton to do',
        required: true,
        max_length: 4000,
      },
    ],
  },
  {
    type: ApplicationCommandType.ChatInput,
    name: 'tasks',
    description: "This channel's background tasks",
    ...onlyInGuilds,
  },
  {
    type: ApplicationCommandType.ChatInput,
    name: 'task',
    description: 'Check, steer, cancel, collect, merge, answer or approve a background task',
    ...onlyInGuilds,
    options: [
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'status',
        description: "A task's progress and last activity",
        options: [taskIdOption],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'steer',
        description: 'Send a running task new instructions, or a completed one a follow-up',
        options: [
          taskIdOption,
          {
            type: ApplicationCommandOptionType.String,
            name: 'message',
            description: 'The new instructions',
            required: true,
            max_length: 2000,
          },
        ],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'cancel',
        description: 'Stop a task and the tasks it started',
        options: [taskIdOption],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'collect',
        description: "A finished task's result",
        options: [taskIdOption],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'merge',
        description: "Merge a completed task's workspace change into its branch",
        options: [taskIdOption],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'answer',
        description: "Answer a task's question",
        options: [
          taskIdOption,
          {
            type: ApplicationCommandOptionType.String,
            name: 'text',
            description: 'Your answer (or #2 for its second choice)',
            required: true,
            max_length: 2000,
          },
        ],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'approve',
        description: 'Approve what a task waits to run',
        options: [taskIdOption],
      },
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: 'deny',
        description: 'Deny what a task waits to run; the reason goes back to it',
        options: [
          taskIdOption,
          {
            type: ApplicationCommandOptionType.String,
            name: 'reason',
            description: 'Why (the task reads it)',
            required: false,
            max_length: 1000,
          },
        ],
      },
    ],
  },
  {
    type: ApplicationCommandType.ChatInput,
    name: 'usage',
    description: 'Tokens and cost: yours, this channel and its tasks (today and 30 days)',
    ...onlyInGuilds,
  },
];

const registrationAttempts = 3;

/**
 * Registers the commands by bulk overwrite (idempotent: the same body twice changes nothing): in each
 * of `guildIds` (visible at once), or globally when there are none (can take a while to show up).
 * A PUT is safe to repeat, so 5xx and network failures are retried here, unlike message posts.
 */
export async function registerSlashCommands(
  rest: REST,
  applicationId: string,
  guildIds: readonly string[],
  logger: Logger,
): Promise<void> {
  const routes =
    guildIds.length > 0
      ? guildIds.map((guildId) => Routes.applicationGuildCommands(applicationId, guildId))
      : [Routes.applicationCommands(applicationId)];
  for (const route of routes) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await rest.put(route, { body: slashCommands });
        break;
      } catch (error) {
        const failure = toPlatformSendError(error, 'registering slash commands');
        if (!failure.retryable) {
          throw new AdapterError(
            'config_invalid',
            `${failure.message}. Check that DISCORD_APPLICATION_ID is the application of DISCORD_TOKEN, and ` +
              'that the bot was invited with the applications.commands scope to every server in discord.guild_ids.',
            { fault: 'user', cause: error },
          );
        }
        if (attempt >= registrationAttempts) throw failure;
        logger.warn(
          { route, attempt, error: failure.message },
          'slash command registration failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, failure.retryAfterMs ?? 500 * 2 ** attempt));
      }
    }
  }
  logger.info(
    {
      commands: slashCommands.map((command) => command.name),
      scope: guildIds.length > 0 ? guildIds : 'global',
    },
    'discord slash commands registered',
  );
}
