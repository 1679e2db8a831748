import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capSummary } from '../../src/agent/child-prompt.ts';
import { shortGoal } from '../../src/tasks/task-views.ts';
import { cutText, oneLine } from '../../src/text/cut-text.ts';

const emoji = '😀'; // two UTF-16 code units
const isWellFormed = (text: string) => Buffer.from(text, 'utf8').toString('utf8') === text;

describe('cutText', () => {
  it('returns a text that fits as it is, up to exactly the cap', () => {
    expect(cutText('short', 10)).toBe('short');
    expect(cutText('x'.repeat(10), 10)).toBe('x'.repeat(10));
    expect(cutText('', 0)).toBe('');
  });

  it('cuts a longer text to exactly the cap, the ellipsis included', () => {
    expect(cutText('abcdefghijk', 10)).toBe('abcdefghi…');
    expect(cutText('abcdefghijk', 10)).toHaveLength(10);
  });

  it('keeps an emoji at the edge whole or drops it, never half of it', () => {
    // The pair would straddle unit 9 (the last one before the ellipsis): it is dropped whole.
    const cut = cutText(`${'a'.repeat(8)}${emoji}${emoji}`, 10);
    expect(cut).toBe(`${'a'.repeat(8)}…`);
    // Ending exactly after a pair keeps it.
    expect(cutText(`${'a'.repeat(7)}${emoji}${emoji}`, 10)).toBe(`${'a'.repeat(7)}${emoji}…`);
    // A plain cut at the edge of a pair drops the pair too.
    expect(cutText(`abc${emoji}`, 4, { marker: '' })).toBe('abc');
  });

  it('drops the whitespace before the ellipsis unless told not to', () => {
    expect(cutText('abcd   efghij', 8)).toBe('abcd…');
    expect(cutText('abcd   efghij', 8, { trimEnd: false })).toBe('abcd   …');
  });

  it('cuts plainly when the marker would fill the whole cap', () => {
    expect(cutText('abcdef', 1)).toBe('a');
    expect(cutText('abcdef', 3, { marker: '[cut]' })).toBe('abc');
    expect(cutText('abcdef', 0)).toBe('');
  });

  it('never passes the cap nor leaves half a pair, whatever the text, cap and marker', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 60 }),
        fc.integer({ min: 0, max: 80 }),
        fc.constantFrom('…', '', '… [cut]'),
        (text, cap, marker) => {
          const cut = cutText(text, cap, { marker });
          expect(cut.length).toBeLessThanOrEqual(cap);
          expect(isWellFormed(cut)).toBe(true);
        },
      ),
    );
  });

  it('oneLine collapses every run of whitespace', () => {
    expect(oneLine('  check\n\tthe   deploy\r\nlogs ')).toBe('check the deploy logs');
  });
});

describe('the cutters built on it', () => {
  it('shortGoal keeps an emoji at the edge whole', () => {
    const goal = shortGoal(`${'a'.repeat(78)}${emoji}b`, 80);
    expect(goal).toBe(`${'a'.repeat(78)}…`);
    expect(isWellFormed(goal)).toBe(true);
  });

  it('capSummary stays exactly within delegation.max_summary_chars and never halves a pair', () => {
    const summary = capSummary(`${'x'.repeat(56)}${emoji}${'y'.repeat(100)}`, 100);
    expect(summary).toBe(`${'x'.repeat(56)}… [summary cut; full text kept on the task]`);
    expect(summary.length).toBeLessThanOrEqual(100);
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        fc.integer({ min: 1, max: 200 }),
        (text, cap) => {
          const capped = capSummary(text, cap);
          expect(capped.length).toBeLessThanOrEqual(cap);
          expect(isWellFormed(capped)).toBe(true);
        },
      ),
    );
  });
});
