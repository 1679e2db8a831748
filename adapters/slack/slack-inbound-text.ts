import { chatCommandNames } from '../../src/gateway/chat-adapter.ts';
import { parseCommand } from '../../src/gateway/command-router.ts';
import { toWellFormed } from '../../src/well-formed-text.ts';

/**
 * A Slack message's text as the agents should read it: the bot's own mention removed, links and channel
 * names spelled out, broadcasts as words, entities decoded. Other people's mentions stay `<@U…>` so the
 * parent can mention them back.
 */
export function plainTextOf(text: string, botUserId: string): string {
  return toWellFormed(text)
    .replace(/<([^<>]*)>/g, (whole, inner: string) => {
      const [target = '', label] = inner.split('|', 2);
      if (target === `@${botUserId}`) return '';
      if (target.startsWith('@')) return `<${target}>`;
      if (target.startsWith('#')) return label ? `#${label}` : whole;
      if (target.startsWith('!')) return `@${(label ?? target.slice(1)).replace(/^@/, '').split('^')[0]}`;
      const address = target.replace(/^mailto:/, '');
      return label && label !== address && label !== target ? `${label} (${address})` : address;
    })
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

const commandWords = new Set<string>([...chatCommandNames, 'help']);

/**
 * Whether the words after a mention are a chat command (Slack sends no slash commands from threads, so
 * `@Baton cancel t_7k2m9q` there does what `/baton cancel t_7k2m9q` does), and which.
 *
 * The rule: the first word is a command word and the whole text parses as that command; `help` only
 * alone. A bare mention is `help`. Anything else is a message for the parent: "cancel the deploy" or
 * "help me read this log" are requests, not commands.
 */
export function mentionCommandText(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === '') return 'help';
  const firstWord = trimmed.split(/\s+/, 1)[0]!.toLowerCase();
  if (!commandWords.has(firstWord)) return null;
  if (firstWord === 'help') return trimmed.toLowerCase() === 'help' ? 'help' : null;
  return 'error' in parseCommand(trimmed) ? null : trimmed;
}
