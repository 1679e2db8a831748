/**
 * Splitting Markdown for one platform: `chunkText`'s split (code fences closed and reopened, never a cut
 * surrogate pair), checked against the platform's rendered length. A piece that rendering makes longer
 * than the limit (Slack's mrkdwn escapes `&` five-fold) is split finer, so the adapter always gets text
 * that becomes exactly one message.
 */
import { chunkText, minimumChunkChars } from './chunk-text.ts';

/** Markdown chunks each of which renders within `maxChars`; none for blank text. */
export function chunkForPlatform(
  markdown: string,
  maxChars: number,
  renderedLength: (markdown: string) => number = (text) => text.length,
): string[] {
  return chunkText(markdown, maxChars).flatMap((piece) => splitWithin(piece, maxChars, renderedLength));
}

function splitWithin(
  piece: string,
  maxChars: number,
  renderedLength: (markdown: string) => number,
): string[] {
  const rendered = renderedLength(piece);
  if (rendered <= maxChars) return [piece];
  const smaller = Math.floor(((piece.length * maxChars) / rendered) * 0.9);
  // Rendering that grows a piece more than this cannot be split into fitting parts: the adapter cuts it.
  if (smaller < minimumChunkChars || smaller >= piece.length) return [piece];
  return chunkText(piece, smaller).flatMap((part) => splitWithin(part, maxChars, renderedLength));
}

/**
 * The first `maxChars`' worth of Markdown (rendered), followed by `suffix`: a streaming message that is
 * not final yet shows what fits and a cursor.
 */
export function firstChunkWith(
  markdown: string,
  suffix: string,
  maxChars: number,
  renderedLength: (markdown: string) => number = (text) => text.length,
): string {
  const room = Math.max(minimumChunkChars, maxChars - renderedLength(suffix));
  const first = chunkForPlatform(markdown, room, renderedLength)[0] ?? '';
  return `${first}${suffix}`;
}
