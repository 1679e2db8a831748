import { htmlToText } from 'html-to-text';
import { oneLine } from '../../text/cut-text.ts';

/** Longest raw title kept: a real title is a line, and decoding it must stay cheap whatever the page. */
const maxTitleSourceChars = 2000;

/**
 * The text of the page's first `<title>` element, or undefined. Found with linear scans only: a regular
 * expression like `<title[^>]*>([\s\S]*?)<\/title>` retries at every `<title`, which is quadratic in the
 * page size (a 240 KB page of `<title` held the event loop for 5 s).
 */
export function findPageTitle(html: string): string | undefined {
  // A literal with a one-character look-ahead: the engine never backtracks over the page.
  const openTag = /<title(?=[\s/>])/gi;
  if (!openTag.exec(html)) return undefined;
  const contentStart = html.indexOf('>', openTag.lastIndex);
  if (contentStart === -1) return undefined;
  const closeTag = /<\/title/gi;
  closeTag.lastIndex = contentStart + 1;
  const close = closeTag.exec(html);
  // No closing tag means no title (browsers would show none either); no later `<title` can have one.
  if (!close) return undefined;
  const raw = html.slice(contentStart + 1, Math.min(close.index, contentStart + 1 + maxTitleSourceChars));
  const title = oneLine(htmlToText(raw, { wordwrap: false }));
  return title || undefined;
}
