import { chatCommandNames } from './chat-adapter.ts';
import { parseCommand } from './command-router.ts';

const commandWords = new Set<string>([...chatCommandNames, 'help']);

/**
 * Whether words a person typed as a message are a chat command, and which (the text for the command
 * router), or null for a message to the parent agent.
 *
 * The rule: the first word is a command word and the whole text parses as that command; `help` only
 * alone. "cancel the deploy" or "help me read this log" are requests, not commands.
 */
export function chatCommandText(text: string): string | null {
  const trimmed = text.trim();
  const firstWord = trimmed.split(/\s+/, 1)[0]!.toLowerCase();
  if (!commandWords.has(firstWord)) return null;
  if (firstWord === 'help') return trimmed.toLowerCase() === 'help' ? 'help' : null;
  return 'error' in parseCommand(trimmed) ? null : trimmed;
}

/**
 * `chatCommandText` for a message box that also takes `/tasks`-style commands (the console): a leading
 * `/` and a word mark a command even when it does not parse, so the router answers with its usage line
 * instead of the model guessing. A path such as `/etc/hosts` is not a command.
 */
export function typedCommandText(text: string): string | null {
  const trimmed = text.trim();
  if (/^\/[a-z]+(?:\s|$)/i.test(trimmed)) return trimmed.slice(1);
  return chatCommandText(trimmed);
}
