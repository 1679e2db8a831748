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

/**
 * Whether the words after a mention are a chat command (Slack sends no slash commands from threads, so
 * `@Baton cancel t_7k2m9q` there does what `/baton cancel t_7k2m9q` does), and which: the shared rule
 * (the gateway's `commandTextOf`), and a bare mention is `help`.
 */
export function mentionCommandText(
  text: string,
  commandTextOf: (text: string) => string | null,
): string | null {
  return text.trim() === '' ? 'help' : commandTextOf(text);
}
