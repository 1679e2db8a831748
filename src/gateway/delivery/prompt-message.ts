import { redactSecrets } from '../../logging/redact-secrets.ts';
import type { PromptResponse, TaskPromptState, TaskRecord, TaskStatus } from '../../tasks/task-record.ts';
import { shortGoal } from '../../tasks/task-views.ts';
import { cutText, oneLine } from '../../text/cut-text.ts';
import {
  type OutboundMessage,
  type PromptOutcome,
  promptOutcomeIcon,
  type TaskPrompt,
} from '../chat-adapter.ts';

/** Longest answer or denial reason an outcome line repeats, in characters. */
const maxOutcomeDetailChars = 500;

/** How a prompt's round was settled, as the outbox recorded it (settle-prompt.lua, transition-task.lua). */
export interface PromptSettlement {
  /** The prompt as it was asked. */
  prompt: TaskPromptState;
  /** A person's answer or decision, or the time-out. */
  response?: PromptResponse;
  /** The task ended while it waited (cancelled): its new status, and the note it was given. */
  ended?: { status: TaskStatus; note?: string; at: number };
}

/**
 * The message that asks a person for a parked task's answer or approval: the prompt for surfaces that draw
 * buttons, and its fallback text with every command spelled out. Null when the task has no prompt. With an
 * `outcome`, the same message once settled: it says how, and has no buttons.
 */
export function promptMessage(
  record: TaskRecord,
  slashCommand: string,
  state: TaskPromptState | undefined = record.prompt,
  outcome?: PromptOutcome,
): Extract<OutboundMessage, { kind: 'prompt' }> | null {
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
    // What people wrote is redacted like everything else posted.
    ...(outcome ? { outcome: { ...outcome, text: redactSecrets(outcome.text) } } : {}),
  };
  return {
    kind: 'prompt',
    prompt,
    fallbackText: promptFallbackText(prompt, slashCommand),
    idempotencyKey: promptIdempotencyKey(record.id, state.round),
  };
}

/** How a settled prompt's message says it was settled: who answered or decided, and what, or why not. */
export function promptOutcome(settlement: PromptSettlement): PromptOutcome {
  const { prompt, response, ended } = settlement;
  if (!response) {
    const status = ended?.status ?? 'cancelled';
    const note = ended?.note?.trim();
    return {
      kind: status === 'cancelled' ? 'cancelled' : 'ended',
      text: `No longer waiting: ${note ? note : `the task ${status.replace('_', ' ')}`}`,
      at: ended?.at ?? Date.now(),
    };
  }
  const by = response.by ?? 'someone';
  if (response.timedOut) {
    const waited = waitedFor(prompt.expiresAt - prompt.askedAt);
    return prompt.kind === 'question'
      ? { kind: 'timed_out', text: `No answer in time (${waited})`, at: response.at }
      : { kind: 'timed_out', text: `No decision in time (${waited}): denied`, at: response.at };
  }
  if (prompt.kind === 'question') {
    const answer = response.answer ?? '';
    const choice = prompt.choices.indexOf(answer);
    const shown = cutText(oneLine(answer), maxOutcomeDetailChars);
    return {
      kind: 'answered',
      text: `Answered by ${by}: ${choice >= 0 ? `#${choice + 1} ${shown}` : shown}`,
      at: response.at,
    };
  }
  const tool = prompt.action ? ` — ${prompt.action.tool}` : '';
  if (response.approved) return { kind: 'approved', text: `Approved by ${by}${tool}`, at: response.at };
  const reason = response.reason ? `: ${cutText(oneLine(response.reason), maxOutcomeDetailChars)}` : '';
  return { kind: 'denied', text: `Denied by ${by}${tool}${reason}`, at: response.at };
}

/** A wait's length as people say it: `45 s`, `5 min`, `24 h`. */
function waitedFor(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** One key per wait round: platforms that de-duplicate by it post a prompt once, whatever the retries. */
export function promptIdempotencyKey(taskId: string, round: number): string {
  return `prompt:${taskId}:${round}`;
}

/**
 * The prompt as Markdown, naming the task and its owner, with the commands that answer it; a settled one
 * says how it was settled instead.
 */
export function promptFallbackText(prompt: TaskPrompt, slashCommand = '/baton'): string {
  if (prompt.outcome) return settledFallbackText(prompt, prompt.outcome);
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

function settledFallbackText(prompt: TaskPrompt, outcome: PromptOutcome): string {
  const header = `Task \`${prompt.taskId}\` (${prompt.goal}), started by ${prompt.ownerName},`;
  const lines =
    prompt.kind === 'question'
      ? [`❓ ${header} asked:`, ...quoted(prompt.text)]
      : [`🔐 ${header} waited for approval to run \`${prompt.action?.tool ?? 'a tool'}\`.`];
  lines.push('', `${promptOutcomeIcon(outcome)} ${outcome.text}`);
  return lines.join('\n');
}

function quoted(text: string): string[] {
  return text.split('\n').map((line) => `> ${line}`);
}
