import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toWellFormed, wellFormedDeep } from '../../src/well-formed-text.ts';

const isWellFormed = (text: string) => Buffer.from(text, 'utf8').toString('utf8') === text;

describe('toWellFormed', () => {
  it('replaces lone surrogates and keeps pairs', () => {
    expect(toWellFormed('a\ud800b')).toBe('a\ufffdb');
    expect(toWellFormed('\udc00x\ud83d')).toBe('\ufffdx\ufffd');
    expect(toWellFormed('ok 😀 \ud83d\ude00')).toBe('ok 😀 😀');
  });

  it('gives well-formed text for any string, unchanged when it already was', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const result = toWellFormed(text);
        expect(isWellFormed(result)).toBe(true);
        expect(result.length).toBe(text.length);
        if (isWellFormed(text)) expect(result).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('walks objects and arrays', () => {
    expect(wellFormedDeep({ a: ['\ud800'], b: { c: 'x\udfff' }, n: 1, z: null })).toEqual({
      a: ['\ufffd'],
      b: { c: 'x\ufffd' },
      n: 1,
      z: null,
    });
  });
});
