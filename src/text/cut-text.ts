/** What a cut text ends with unless told otherwise. */
export const ellipsis = '…';

export interface CutTextOptions {
  /**
   * Ends a text that was cut, and counts toward the limit (default `…`; `''` for a plain cut). A limit
   * that only the marker would fill gets a plain cut instead.
   */
  marker?: string;
  /** Drops the whitespace the cut leaves before the marker (default true). */
  trimEnd?: boolean;
}

/**
 * `text` in at most `maxUnits` UTF-16 code units (`String.length`, what Discord, Slack and the model
 * limits count). A text that fits comes back as it is; a longer one is cut and ends with the marker. The
 * cut never leaves half of a surrogate pair: an emoji at the edge is kept whole or dropped.
 */
export function cutText(text: string, maxUnits: number, options: CutTextOptions = {}): string {
  if (text.length <= maxUnits) return text;
  const marker = options.marker ?? ellipsis;
  if (marker.length >= maxUnits) return leadingUnits(text, maxUnits);
  const kept = leadingUnits(text, maxUnits - marker.length);
  return `${options.trimEnd === false ? kept : kept.trimEnd()}${marker}`;
}

/** The text on one line: every run of whitespace, newlines included, becomes one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The first `count` code units, one fewer where the last of them would be the first half of a pair. */
function leadingUnits(text: string, count: number): string {
  if (count <= 0) return '';
  const last = text.charCodeAt(count - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? count - 1 : count);
}
