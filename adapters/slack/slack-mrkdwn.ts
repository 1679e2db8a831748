/**
 * Markdown (what the agents write) to Slack's mrkdwn, in messages that fit Slack's limits. The conversion
 * itself is slackify-markdown's; this module defuses Slack control sequences the model may have written
 * and splits so that every converted message stays within the limit.
 */
import slackifyMarkdown from 'slackify-markdown';
import { chunkText, minimumChunkChars } from '../../src/gateway/chunk-text.ts';

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
 * Markdown as mrkdwn messages of at most `maxChars` each. The split happens on the Markdown (so code
 * fences are closed and reopened, and links are never cut); a piece that conversion made longer (escaping
 * `&` grows five-fold) is split finer and converted again.
 */
export function toMrkdwnChunks(markdown: string, maxChars: number): string[] {
  const limit = Math.min(maxChars, slackHardLimitChars);
  const chunks: string[] = [];
  for (const piece of chunkText(markdown, limit)) chunks.push(...convertWithin(piece, limit));
  return chunks;
}

function convertWithin(piece: string, maxChars: number): string[] {
  const converted = markdownToMrkdwn(piece);
  if (converted.length <= maxChars) return converted.trim() === '' ? [] : [converted];
  const smaller = Math.floor(((piece.length * maxChars) / converted.length) * 0.9);
  // Cannot happen with Slack's limits; a split of the converted text keeps the limit all the same.
  if (smaller < minimumChunkChars || smaller >= piece.length) return chunkText(converted, maxChars);
  return chunkText(piece, smaller).flatMap((part) => convertWithin(part, maxChars));
}

/** One mrkdwn text of at most `maxChars` (an edit or a fallback cannot become two messages): cut with `…`. */
export function fitMrkdwn(markdown: string, maxChars: number): string {
  const whole = toMrkdwnChunks(markdown, maxChars);
  if (whole.length <= 1) return whole[0] ?? '';
  return `${toMrkdwnChunks(markdown, maxChars - 2)[0] ?? ''} …`;
}
