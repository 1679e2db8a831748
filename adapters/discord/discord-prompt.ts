import {
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
  ButtonStyle,
  ComponentType,
} from 'discord.js';
import {
  type PromptButton,
  type PromptOutcome,
  pressedPromptCommand,
  promptButtons,
  promptOutcomeIcon,
  type TaskPrompt,
} from '../../src/gateway/chat-adapter.ts';
import { cutText, oneLine } from '../../src/text/cut-text.ts';

/** Discord's limits: a button's label, an embed's description, a field's value, a custom_id. */
const maxLabelChars = 80;
const maxDescriptionChars = 4000;
const maxFieldChars = 1024;
const maxCustomIdChars = 100;

const promptColours = { question: 0x9b59b6, approval: 0xe67e22 } as const;
/** A settled prompt's colour: green for a yes or an answer, red for a no, grey for no answer. */
const outcomeColours: Record<PromptOutcome['kind'], number> = {
  answered: 0x2ecc71,
  approved: 0x2ecc71,
  denied: 0xe74c3c,
  timed_out: 0x95a5a6,
  cancelled: 0x95a5a6,
  ended: 0x95a5a6,
};
const maxFooterChars = 2048;

/**
 * A prompt button's `custom_id`: `baton:answer:t_7k2m9q:2`, `baton:approve:t_7k2m9q`, `baton:deny:t_7k2m9q`
 * (the board's buttons are `baton:cancel|refresh:<id>`).
 */
export function promptButtonId(button: PromptButton): string {
  const [verb, taskId, choice] = button.command.split(' ');
  const id = choice ? `baton:${verb}:${taskId}:${choice.slice(1)}` : `baton:${verb}:${taskId}`;
  return id.slice(0, maxCustomIdChars);
}

/** The chat command a prompt button's `custom_id` stands for; null when it is not a prompt button. */
export function parsePromptButtonId(customId: string): string | null {
  const match = /^baton:(answer|approve|deny):([^:\s]+)(?::(\d))?$/.exec(customId);
  if (!match) return null;
  const [, verb, taskId, choice] = match;
  if ((verb === 'answer') !== (choice !== undefined)) return null;
  return pressedPromptCommand(choice ? `${verb} ${taskId} #${choice}` : `${verb} ${taskId}`);
}

/**
 * A child's question or approval request as an embed (who asks and for whom, the question or exactly what
 * will run, how to answer in words, the expiry) with a row of buttons: a choice each, or Approve / Deny.
 * Once settled: the embed says how in its footer, and the buttons are gone (an edit with no components
 * removes them).
 */
export function promptMessageBody(prompt: TaskPrompt): {
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponentWithCustomId>[];
} {
  const approval = prompt.kind === 'approval';
  const id = prompt.taskId;
  const embed: APIEmbed = {
    title: cutText(`${approval ? '🔐' : '❓'} Task ${id} ${approval ? 'asks for approval' : 'asks'}`, 256),
    description: cutText(
      `For **${prompt.ownerName}** · ${oneLine(prompt.goal)}\n\n${prompt.text}`,
      maxDescriptionChars,
    ),
    color: approval ? promptColours.approval : promptColours.question,
    fields: [],
    footer: {
      text: approval
        ? `Or /task approve id:${id} · /task deny id:${id} reason:…`
        : `Or answer in words: /task answer id:${id} text:…`,
    },
    ...(prompt.expiresAt === undefined ? {} : { timestamp: new Date(prompt.expiresAt).toISOString() }),
  };
  if (prompt.action) {
    const fence = '```';
    const room = maxFieldChars - 2 * fence.length - 2;
    embed.fields = [
      { name: 'Tool', value: cutText(`\`${prompt.action.tool}\``, maxFieldChars), inline: true },
      ...(prompt.action.workspace
        ? [
            {
              name: 'Workspace',
              value: cutText(`\`${prompt.action.workspace}\``, maxFieldChars),
              inline: true,
            },
          ]
        : []),
      {
        name: 'Arguments',
        // ``` inside the arguments would end the block early.
        value: `${fence}\n${cutText(prompt.action.arguments.replaceAll(fence, '`\u200b``'), room)}\n${fence}`,
      },
    ];
  }
  if (prompt.outcome) return settledBody(embed, prompt.outcome, approval);
  if (prompt.expiresAt !== undefined) {
    const seconds = Math.floor(prompt.expiresAt / 1000);
    embed.fields!.push({
      name: approval ? 'Unanswered, denied' : 'Expires',
      value: `<t:${seconds}:R>`,
      inline: true,
    });
  }
  const buttons = promptButtons(prompt);
  const components: APIActionRowComponent<APIButtonComponentWithCustomId>[] =
    buttons.length === 0
      ? []
      : [
          {
            type: ComponentType.ActionRow,
            components: buttons.map((button) => ({
              type: ComponentType.Button,
              style:
                button.style === 'approve'
                  ? ButtonStyle.Success
                  : button.style === 'deny'
                    ? ButtonStyle.Danger
                    : ButtonStyle.Primary,
              label: cutText(oneLine(button.label), maxLabelChars) || '…',
              custom_id: promptButtonId(button),
            })),
          },
        ];
  return { embeds: [embed], components };
}

function settledBody(
  embed: APIEmbed,
  outcome: PromptOutcome,
  approval: boolean,
): ReturnType<typeof promptMessageBody> {
  return {
    embeds: [
      {
        ...embed,
        title: embed.title?.replace(/ asks( for approval)?$/, approval ? ' asked for approval' : ' asked'),
        color: outcomeColours[outcome.kind],
        footer: { text: cutText(`${promptOutcomeIcon(outcome)} ${oneLine(outcome.text)}`, maxFooterChars) },
        timestamp: new Date(outcome.at).toISOString(),
      },
    ],
    components: [],
  };
}
