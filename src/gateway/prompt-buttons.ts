import { taskIdPattern } from '../tasks/task-ids.ts';
import type { TaskPrompt } from './chat-adapter.ts';

/** Most choices a question shows as buttons (Slack allows five buttons in a row; ask_user takes five). */
export const maxPromptChoices = 5;

/** One button of a prompt and the chat command a press sends, as the person who pressed it. */
export interface PromptButton {
  /** What the button says (cut to each platform's limit by the adapter). */
  label: string;
  /** `answer <taskId> #<n>`, `approve <taskId>` or `deny <taskId>`. */
  command: string;
  style: 'choice' | 'approve' | 'deny';
}

/**
 * The buttons of a prompt: one per choice of a question (the first five), or Approve and Deny. Every
 * surface draws these, so a press anywhere is the same command as the words typed.
 */
export function promptButtons(prompt: TaskPrompt): PromptButton[] {
  if (prompt.kind === 'approval') {
    return [
      { label: 'Approve', command: `approve ${prompt.taskId}`, style: 'approve' },
      { label: 'Deny', command: `deny ${prompt.taskId}`, style: 'deny' },
    ];
  }
  return prompt.choices.slice(0, maxPromptChoices).map((choice, index) => ({
    label: choice,
    command: `answer ${prompt.taskId} #${index + 1}`,
    style: 'choice',
  }));
}

const pressedCommand = /^(?:answer (t_[a-z0-9]+) #([1-9])|(approve|deny) (t_[a-z0-9]+))$/;

/**
 * The command of a pressed prompt button, checked: a button's value comes back from the platform, and
 * only the three shapes `promptButtons` makes are accepted. Null for anything else.
 */
export function pressedPromptCommand(value: string): string | null {
  const match = pressedCommand.exec(value);
  if (!match) return null;
  const taskId = match[1] ?? match[4]!;
  if (!taskIdPattern.test(taskId)) return null;
  if (match[2] !== undefined && Number(match[2]) > maxPromptChoices) return null;
  return value;
}
