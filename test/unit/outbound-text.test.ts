import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { markdownToMrkdwn } from '../../adapters/slack/slack-mrkdwn.ts';
import { visibleText } from '../../src/gateway/message-stream.ts';
import { chunkForPlatform, firstChunkWith } from '../../src/gateway/platform-chunks.ts';
import { turnStatusFor } from '../../src/gateway/turn-status.ts';

const mrkdwnLength = (markdown: string) => markdownToMrkdwn(markdown).length;

describe('chunkForPlatform', () => {
  it('splits text that rendering lengthens so every rendered piece fits', () => {
    // `&` becomes `&amp;` in mrkdwn: 1,000 of them render as 5,000 characters.
    const text = `${'R&D '.repeat(1000)}end`;
    const chunks = chunkForPlatform(text, 3500, mrkdwnLength);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(mrkdwnLength(chunk)).toBeLessThanOrEqual(3500);
    expect(chunks.join(' ').replace(/\s+/g, ' ')).toBe(text);
  });

  it('keeps every rendered piece within the limit for any text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', '&', '<', ' ', '\n', '*', '`', 'x'), maxLength: 3000 }),
        (text) => {
          for (const chunk of chunkForPlatform(text, 400, mrkdwnLength)) {
            expect(mrkdwnLength(chunk)).toBeLessThanOrEqual(400);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('returns no chunk for blank text', () => {
    expect(chunkForPlatform(' \n ', 2000)).toEqual([]);
  });

  it('fits a first chunk and a suffix in one message', () => {
    const shown = firstChunkWith('word '.repeat(1000), ' ▌', 2000);
    expect(shown.length).toBeLessThanOrEqual(2000);
    expect(shown.endsWith(' ▌')).toBe(true);
  });
});

describe('visibleText', () => {
  it('holds back the word still being written, so a secret is never shown half-typed', () => {
    const key = 'sk-live0123456789abcdefghij';
    expect(visibleText(`the key is ${key.slice(0, 12)}`)).toBe('the key is ');
    expect(visibleText(`the key is ${key} and`)).toBe('the key is [redacted] ');
    expect(visibleText('oneword')).toBe('');
    expect(visibleText('done.\n')).toBe('done.\n');
  });
});

describe('turnStatusFor', () => {
  const call = (name: string) => ({
    id: name,
    type: 'function' as const,
    function: { name, arguments: '{}' },
  });
  it('says what the parent is doing in words people read', () => {
    expect(turnStatusFor([call('check_task'), call('list_tasks')])).toBe('is checking 2 tasks…');
    expect(turnStatusFor([call('delegate_task_async')])).toBe('is starting 1 task…');
    expect(turnStatusFor([call('check_task'), call('delegate_task')])).toBe('is working…');
    expect(turnStatusFor([call('steer_task')])).toBe('is working…');
  });
});
