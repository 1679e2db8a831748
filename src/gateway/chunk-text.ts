/**
 * Splitting a Markdown reply to fit one platform message (Discord 2,000 characters, Slack 40,000).
 * Lengths are UTF-16 code units, as the platforms count them.
 *
 * What is kept: the chunks' bodies are consecutive slices of the source, and the source is
 * `w0 + body1 + w1 + body2 + … + bodyN + wN` where every `w` is only spaces, tabs, `\r` and `\n`:
 * the separators a chunk was cut at (and whitespace-only leftovers) are dropped, nothing else, and a
 * chunk that starts a line keeps its indentation. A chunk is `reopenedFence + body + closingFence`;
 * the fence lines are added only where a code block is cut.
 */
import { BatonError } from '../errors.ts';

/** One chunk in parts; `reopenedFence + body + closingFence` is the text to post. */
export interface TextChunk {
  /** Fence line (with its newline) reopening a code block cut at the end of the previous chunk; '' for none. */
  reopenedFence: string;
  /** `source.slice(sourceStart, sourceEnd)`, never empty or whitespace-only. */
  body: string;
  /** Newline and fence closing a code block cut at the end of this chunk; '' for none. */
  closingFence: string;
  sourceStart: number;
  sourceEnd: number;
}

/** Below this a chunk cannot hold a reopened fence, some text and a closing fence. */
export const minimumChunkChars = 20;

/** Splits Markdown into platform messages of at most `maxChars`; see the module comment for what is kept. */
export function chunkText(text: string, maxChars: number): string[] {
  return chunkTextParts(text, maxChars).map((chunk) => chunk.reopenedFence + chunk.body + chunk.closingFence);
}

/** `chunkText` with each chunk's added fences and source position, for adapters and tests. */
export function chunkTextParts(text: string, maxChars: number): TextChunk[] {
  if (!Number.isInteger(maxChars) || maxChars < minimumChunkChars) {
    throw new BatonError(
      'invalid_arguments',
      `maxChars must be an integer of at least ${minimumChunkChars} (got ${maxChars})`,
    );
  }
  const scan = new FenceScan(text, maxChars);
  const chunks: TextChunk[] = [];
  let position = 0;
  while (separatorEnd(text, position) < text.length) {
    const openAtStart = scan.fenceAt(position);
    const reopenedFence = openAtStart?.reopenLine ?? '';
    let bodyLimit = maxChars - reopenedFence.length;
    for (;;) {
      const cut = chooseCut(text, scan, position, bodyLimit);
      const closingFence = scan.fenceAt(cut.next)?.closeLine ?? '';
      // Before an added closing fence, trailing blank lines would show as empty code lines.
      const bodyEnd = closingFence ? trimmedEnd(text, position, cut.bodyEnd) : cut.bodyEnd;
      const length = reopenedFence.length + (bodyEnd - position) + closingFence.length;
      if (length > maxChars) {
        bodyLimit -= length - maxChars;
        // Unreachable: repeated fences take at most half a chunk (see fenceOf).
        if (bodyLimit < 2)
          throw new BatonError('invalid_arguments', `cannot fit text in ${maxChars} characters`);
        continue;
      }
      if (trimmedEnd(text, position, bodyEnd) > position) {
        const body = text.slice(position, bodyEnd);
        chunks.push({ reopenedFence, body, closingFence, sourceStart: position, sourceEnd: bodyEnd });
      }
      position = cut.next;
      break;
    }
  }
  return chunks;
}

interface Fence {
  /** What reopens the block in the next chunk: the marker and language tag, then a newline. */
  reopenLine: string;
  closeLine: string;
}

interface Line {
  start: number;
  /** Index of the line's `\n`, or the text's length for the last line. */
  contentEnd: number;
  role: 'open' | 'close' | null;
  /** The code block open before this line (null outside one, or for a fence too long to repeat). */
  fenceBefore: Fence | null;
  fenceAfter: Fence | null;
  /** For a line that starts with ``` but is not a fence: cutting in [from, until] would leave a part that is. */
  fenceLike: { from: number; until: number } | null;
}

const openingFencePattern = /^ {0,3}(`{3,})([^`]*)$/;
const closingFencePattern = /^ {0,3}(`{3,})[ \t]*$/;
const fenceStartPattern = /^ {0,3}```/;

/** Lines of the text with the code block each one is in, following CommonMark's backtick fences. */
class FenceScan {
  readonly lines: Line[] = [];

  constructor(text: string, maxChars: number) {
    let fence: (Fence & { marker: string }) | null = null;
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      const contentEnd = newline === -1 ? text.length : newline;
      const content = text.slice(start, contentEnd).replace(/\r$/, '');
      const fenceBefore = fence;
      let role: Line['role'] = null;
      if (fence) {
        const closing = closingFencePattern.exec(content);
        if (closing && closing[1]!.length >= fence.marker.length) {
          role = 'close';
          fence = null;
        }
      } else {
        const opening = openingFencePattern.exec(content);
        if (opening) {
          role = 'open';
          fence = fenceOf(opening[1]!, opening[2]!, maxChars);
        }
      }
      this.lines.push({
        start,
        contentEnd,
        role,
        fenceBefore,
        fenceAfter: fence,
        fenceLike: fenceLikeRange(content, start, role),
      });
      if (newline === -1) break;
      start = newline + 1;
    }
  }

  /** The line holding `position` (a position at a line's start belongs to that line). */
  lineAt(position: number): Line {
    let low = 0;
    let high = this.lines.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.lines[middle]!.start <= position) low = middle;
      else high = middle - 1;
    }
    return this.lines[low]!;
  }

  /** The code block a chunk starting (or ending) at `position` is inside, if it is to be repeated. */
  fenceAt(position: number): Fence | null {
    const line = this.lineAt(position);
    // Past the start of an opening line (cut only when it is longer than a chunk) counts as inside.
    const after = position >= line.contentEnd || (line.role === 'open' && position > line.start);
    const fence = after ? line.fenceAfter : line.fenceBefore;
    return fence?.reopenLine ? fence : null;
  }

  /** Whether cutting at `position` would leave a fence line, or text that would read as one, in pieces. */
  splitsFenceLine(text: string, position: number): boolean {
    const line = this.lineAt(position);
    if (position === line.start) return false;
    if (line.role !== null) return position < line.contentEnd;
    // Text after a cut starts a line; the part before it ends one: neither may become a fence.
    const fenceLike = line.fenceLike;
    return (
      startsLikeFence(text, position) ||
      (fenceLike !== null && position >= fenceLike.from && position <= fenceLike.until)
    );
  }

  /**
   * Whether a chunk must not end at `bodyEnd` with the next one starting at `next`: that would split a
   * fence line or leave an empty code block on either side of the cut.
   */
  isPoorCut(text: string, bodyEnd: number, next: number): boolean {
    const ending = this.lineAt(bodyEnd);
    if (ending.role === 'open' && bodyEnd > ending.start) return true;
    const line = this.lineAt(next);
    if (next === line.start) return line.role === 'close';
    return this.splitsFenceLine(text, next) || this.splitsFenceLine(text, bodyEnd);
  }
}

/** Whether a line starting at `position` would open with ``` (after up to three spaces). */
function startsLikeFence(text: string, position: number): boolean {
  let index = position;
  while (index < position + 3 && text[index] === ' ') index += 1;
  return text.startsWith('```', index);
}

function fenceLikeRange(content: string, start: number, role: Line['role']): Line['fenceLike'] {
  const opening = role === null ? fenceStartPattern.exec(content) : null;
  if (!opening) return null;
  let infoStart = opening[0].length;
  while (content[infoStart] === '`') infoStart += 1;
  const backtick = content.indexOf('`', infoStart);
  return { from: start + opening[0].length, until: start + (backtick === -1 ? content.length : backtick) };
}

function fenceOf(marker: string, info: string, maxChars: number): Fence & { marker: string } {
  const language = info.trim().split(/\s+/)[0] ?? '';
  const closeLine = `\n${marker}`;
  // Repeating a fence must leave most of a chunk for text; a huge language tag is dropped, and a
  // marker too long to repeat (never seen in practice) leaves its block unrepeated.
  for (const reopenLine of [`${marker}${language}\n`, `${marker}\n`]) {
    if (reopenLine.length + closeLine.length <= maxChars / 2) return { marker, reopenLine, closeLine };
  }
  return { marker, reopenLine: '', closeLine: '' };
}

function isSeparator(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}

/** The first index at or after `from` that is not a separator. */
function separatorEnd(text: string, from: number): number {
  let index = from;
  while (index < text.length && isSeparator(text.charCodeAt(index))) index += 1;
  return index;
}

/** `end` moved back over separators, not before `start`. */
function trimmedEnd(text: string, start: number, end: number): number {
  let index = end;
  while (index > start && isSeparator(text.charCodeAt(index - 1))) index -= 1;
  return index;
}

interface Cut {
  /** Where this chunk's body ends. */
  bodyEnd: number;
  /** Where the next chunk starts; the separators in between are dropped. */
  next: number;
}

/** Break kinds, best first. */
const paragraphBreak = 0;
const lineBreak = 1;
const spaceBreak = 2;

/**
 * The end of the chunk starting at `start` with at most `bodyLimit` characters of body: the rest of
 * the text if it fits, else the last paragraph break, line break or space in the window's second half
 * (in that order), else the last one anywhere in the window, else a cut mid-word.
 */
function chooseCut(text: string, scan: FenceScan, start: number, bodyLimit: number): Cut {
  if (text.length - start <= bodyLimit) return { bodyEnd: text.length, next: text.length };
  const rest = trimmedEnd(text, start, text.length);
  if (rest - start <= bodyLimit) return { bodyEnd: rest, next: text.length };

  const windowEnd = start + bodyLimit;
  const lateFrom = start + Math.ceil(bodyLimit / 2);
  const late: (Cut | undefined)[] = [];
  const anywhere: (Cut | undefined)[] = [];
  // A break inside the chunk's leading whitespace would drop that whitespace (a code line's indentation).
  let index = separatorEnd(text, start) + 1;
  while (index <= windowEnd) {
    if (!isSeparator(text.charCodeAt(index))) {
      index += 1;
      continue;
    }
    const { cut, newlines, runEnd } = breakAt(text, index);
    if (!scan.isPoorCut(text, cut.bodyEnd, cut.next)) {
      const kind = newlines >= 2 ? paragraphBreak : newlines === 1 ? lineBreak : spaceBreak;
      anywhere[kind] = cut;
      if (cut.bodyEnd >= lateFrom) late[kind] = cut;
    }
    index = runEnd;
  }
  const preferred = [...late, ...anywhere].find((cut) => cut !== undefined);
  return preferred ?? hardCut(text, scan, start, windowEnd);
}

/** A break at the separators starting at `runStart`: they are dropped, except the next line's indentation. */
function breakAt(text: string, runStart: number): { cut: Cut; newlines: number; runEnd: number } {
  const runEnd = separatorEnd(text, runStart);
  let newlines = 0;
  let next = runEnd;
  for (let index = runStart; index < runEnd; index += 1) {
    if (text.charCodeAt(index) === 10) {
      newlines += 1;
      next = index + 1;
    }
  }
  return { cut: { bodyEnd: runStart, next }, newlines, runEnd };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** A mid-word cut at or before `end` that keeps surrogate pairs and fence lines whole. */
function hardCut(text: string, scan: FenceScan, start: number, end: number): Cut {
  const splitsPair = (at: number) =>
    isHighSurrogate(text.charCodeAt(at - 1)) && isLowSurrogate(text.charCodeAt(at));
  const keepsTogether = (at: number) =>
    splitsPair(at) || (text[at - 1] !== '\n' && startsLikeFence(text, at));
  let position = end;
  while (position > start + 1 && keepsTogether(position)) position -= 1;
  if (splitsPair(position)) position += 1;
  // A fence line longer than a whole chunk (never seen in practice) is the one thing cut anyway.
  const line = scan.lineAt(position);
  if (line.start > start && scan.splitsFenceLine(text, position)) position = line.start;
  // Next to separators (a break refused above) it is that break after all.
  const runStart = trimmedEnd(text, start, position);
  if (runStart < position || isSeparator(text.charCodeAt(position))) return breakAt(text, runStart).cut;
  return { bodyEnd: position, next: position };
}
