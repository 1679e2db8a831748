import type { types } from '@slack/bolt';
import { promptButtons, promptOutcomeIcon, type TaskPrompt } from '../../src/gateway/chat-adapter.ts';
import { cutText, oneLine } from '../../src/text/cut-text.ts';
import { escapeMrkdwn } from './slack-mrkdwn.ts';

/** Action id prefix of a prompt's buttons: `baton_prompt_1` … (unique within the message, as Slack asks). */
const promptActionPrefix = 'baton_prompt_';
/** Every prompt button's action id, for the one `app.action` listener. */
export const promptActionPattern = /^baton_prompt_\d$/;

/** Slack's limits: a section's text, a button's text, a button's value. */
const maxSectionChars = 3000;
const maxButtonChars = 75;
const maxValueChars = 2000;

/**
 * A child's question or approval request as Block Kit: who asks and for whom, the question (or exactly what
 * will run: tool, arguments in a code block, workspace), one button per choice or Approve / Deny, and how to
 * answer in words. A button's value is the chat command it stands for (see promptButtons). Once settled: the
 * same blocks without buttons, and a context line saying how it was settled instead of how to answer.
 */
export function promptBlocks(prompt: TaskPrompt, slashCommand: string): types.KnownBlock[] {
  const blocks: types.KnownBlock[] = [
    {
      type: 'section',
      block_id: `prompt:${prompt.taskId}`,
      text: { type: 'mrkdwn', text: cutText(headline(prompt), maxSectionChars) },
    },
  ];
  const body = prompt.kind === 'approval' ? approvalText(prompt) : escapeMrkdwn(prompt.text);
  if (body.trim() !== '') {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cutText(body, maxSectionChars) } });
  }
  const buttons = promptButtons(prompt);
  if (buttons.length > 0) {
    blocks.push({
      type: 'actions',
      block_id: `prompt-actions:${prompt.taskId}`,
      elements: buttons.map((button, index) => ({
        type: 'button',
        action_id: `${promptActionPrefix}${index + 1}`,
        value: cutText(button.command, maxValueChars),
        text: { type: 'plain_text', text: cutText(oneLine(button.label), maxButtonChars), emoji: true },
        ...(button.style === 'approve' ? { style: 'primary' as const } : {}),
        ...(button.style === 'deny' ? { style: 'danger' as const } : {}),
      })),
    });
  }
  const outcome = prompt.outcome;
  const context = outcome
    ? `${promptOutcomeIcon(outcome)} ${escapeMrkdwn(outcome.text)}`
    : howToAnswer(prompt, slashCommand);
  blocks.push({
    type: 'context',
    ...(outcome ? { block_id: `prompt-outcome:${prompt.taskId}` } : {}),
    elements: [{ type: 'mrkdwn', text: cutText(context, maxSectionChars) }],
  });
  return blocks;
}

function headline(prompt: TaskPrompt): string {
  const settled = prompt.outcome !== undefined;
  const what =
    prompt.kind === 'approval'
      ? settled
        ? 'asked for approval'
        : 'asks for approval'
      : settled
        ? 'asked'
        : 'asks';
  return (
    `${prompt.kind === 'approval' ? ':lock:' : ':question:'} *Task \`${prompt.taskId}\` ${what}* · ` +
    `for ${escapeMrkdwn(prompt.ownerName)}\n> ${escapeMrkdwn(oneLine(prompt.goal))}`
  );
}

/** The line saying what waits, then the tool, its workspace and its arguments exactly (in a code block). */
function approvalText(prompt: TaskPrompt): string {
  const action = prompt.action;
  const lines = [escapeMrkdwn(prompt.text)];
  if (action) {
    const where = action.workspace ? ` in workspace \`${escapeMrkdwn(action.workspace)}\`` : '';
    lines.push(`*Tool* \`${escapeMrkdwn(action.tool)}\`${where}`);
    // A code block shows the arguments as they are; ``` inside them would end it early.
    const fenced = escapeMrkdwn(action.arguments).replaceAll('```', '`\u200b``');
    const room = maxSectionChars - lines.join('\n').length - 10;
    lines.push(`\`\`\`${cutText(fenced, Math.max(room, 100))}\`\`\``);
  }
  return lines.join('\n');
}

function howToAnswer(prompt: TaskPrompt, slashCommand: string): string {
  const id = prompt.taskId;
  const words =
    prompt.kind === 'approval'
      ? `Or type \`${slashCommand} approve ${id}\` / \`${slashCommand} deny ${id} <reason>\`, or mention me ` +
        `with \`approve ${id}\` / \`deny ${id} <reason>\` in this thread.`
      : `Answer in words: \`${slashCommand} answer ${id} <text>\`, or mention me with ` +
        `\`answer ${id} <text>\` in this thread.`;
  if (prompt.expiresAt === undefined) return words;
  const seconds = Math.floor(prompt.expiresAt / 1000);
  const fallback = new Date(prompt.expiresAt).toISOString().slice(0, 16).replace('T', ' ');
  const ending = prompt.kind === 'approval' ? 'counts as denied' : 'expires';
  return `${words} Unanswered, it ${ending} <!date^${seconds}^{date_short_pretty} {time}|${fallback} UTC>.`;
}
