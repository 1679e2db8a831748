import { redactSecrets } from '../../logging/redact-secrets.ts';
import type { TaskRecord } from '../../tasks/task-record.ts';
import { shortGoal } from '../../tasks/task-views.ts';
import type { OutboundMessage, TaskPrompt } from '../chat-adapter.ts';

/**
 * The message that asks a person for a parked task's answer or approval: the prompt for surfaces that draw
 * buttons, and its fallback text with every command spelled out. Null when the task has no prompt.
 */
export function promptMessage(
  record: TaskRecord,
  slashCommand: string,
): Extract<OutboundMessage, { kind: 'prompt' }> | null {
  const state = record.prompt;
  if (!state) return null;
  const prompt: TaskPrompt = {
    kind: state.kind,
    taskId: record.id,
    goal: shortGoal(record.goal, 120),
    ownerName: record.origin.userName ?? record.origin.user,
    // What the model wrote goes to chat: secrets it may have echoed are redacted (the action's arguments were
    // redacted when the task parked).
    text: redactSecrets(state.text),
    choices: state.choices.map((choice) => redactSecrets(choice)),
    ...(state.action ? { action: state.action } : {}),
    expiresAt: state.expiresAt,
  };
  return {
    kind: 'prompt',
    prompt,
    fallbackText: promptFallbackText(prompt, slashCommand),
    idempotencyKey: promptIdempotencyKey(record.id, state.round),
  };
}

/** One key per wait round: platforms that de-duplicate by it post a prompt once, whatever the retries. */
export function promptIdempotencyKey(taskId: string, round: number): string {
  return `prompt:${taskId}:${round}`;
}

/** The prompt as Markdown, naming the task and its owner, with the commands that answer it. */
export function promptFallbackText(prompt: TaskPrompt, slashCommand = '/baton'): string {
  const id = prompt.taskId;
  const header = `Task \`${id}\` (${prompt.goal}), started by ${prompt.ownerName},`;
  const expiry = prompt.expiresAt
    ? ` Waits until ${new Date(prompt.expiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC.`
    : '';
  if (prompt.kind === 'question') {
    const lines = [`❓ ${header} asks:`, ...quoted(prompt.text)];
    if (prompt.choices.length > 0) {
      lines.push('', ...prompt.choices.map((choice, index) => `**#${index + 1}** ${choice}`));
    }
    const pick = prompt.choices.length > 0 ? ` or \`${slashCommand} answer ${id} #1\`` : '';
    lines.push(
      '',
      `Answer with \`${slashCommand} answer ${id} <your answer>\`${pick} (Discord: \`/task answer id:${id} text:…\`; ` +
        `in a Slack thread: mention me with \`answer ${id} …\`).${expiry}`,
    );
    return lines.join('\n');
  }
  const action = prompt.action;
  const lines = [`🔐 ${header} waits for approval to run \`${action?.tool ?? 'a tool'}\`:`];
  if (action) {
    lines.push('```', action.arguments.replaceAll('```', "'''"), '```');
    if (action.workspace) lines.push(`in workspace \`${action.workspace}\``);
  }
  lines.push(
    '',
    `Approve with \`${slashCommand} approve ${id}\`, deny with \`${slashCommand} deny ${id} [reason]\` ` +
      `(Discord: \`/task approve id:${id}\`, \`/task deny id:${id} reason:…\`).${expiry} No decision by then is a denial.`,
  );
  return lines.join('\n');
}

function quoted(text: string): string[] {
  return text.split('\n').map((line) => `> ${line}`);
}
