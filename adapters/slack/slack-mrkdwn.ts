/**
 * Markdown (what the agents write) to Slack's mrkdwn, in messages that fit Slack's limits. The conversion
 * itself is slackify-markdown's; this module defuses Slack control sequences the model may have written
 * and keeps one converted message within the limit (splitting is the gateway Thread's).
 */
import slackifyMarkdown from 'slackify-markdown';
import { cutText } from '../../src/text/cut-text.ts';

/** Slack refuses a message text over this many characters outright. */
export const slackHardLimitChars = 40_000;

/** `<…>` sequences Slack renders as links or mentions; any other one is shown as text. */
const keptControlSequence = /^(?:https?:\/\/|mailto:|@[UW][A-Z0-9]+(?:\|[^>]*)?$|#C[A-Z0-9]+(?:\|[^>]*)?$)/;

/** Converts Markdown to mrkdwn. Broadcasts (`<!channel>`, `<!here>`) and stray tags come out as text. */
export function markdownToMrkdwn(markdown: string): string {
  const converted = slackifyMarkdown(markdown).replace(/\n+$/, '');
  // slackify keeps raw HTML as is; in Slack `<!channel>` would notify a whole channel.
  return converted.replace(/<([^<>\n]*)>/g, (whole, inner: string) =>
    keptControlSequence.test(inner) ? whole : `&lt;${inner}&gt;`,
  );
}

/** Escapes text for a mrkdwn field (goals, activity lines): `&`, `<` and `>` only, as Slack asks. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * One mrkdwn text of at most `maxChars` (a message, an edit, a fallback). The gateway's Thread already
 * splits Markdown so each piece's mrkdwn fits (`renderedLength`); this is the guard for anything longer:
 * the Markdown is cut (with `…`) before converting, shorter in proportion while conversion makes it too
 * long (escaping `&` grows five-fold), so links and escapes are never cut in half.
 */
export function fitMrkdwn(markdown: string, maxChars: number): string {
  const limit = Math.min(maxChars, slackHardLimitChars);
  let room = markdown.length;
  for (;;) {
    const converted = markdownToMrkdwn(cutText(markdown, room));
    if (converted.length <= limit) return converted.trim() === '' ? '' : converted;
    room = Math.min(room - 1, Math.floor((room * limit) / converted.length));
    if (room < 2) return cutText(converted, limit);
  }
}
