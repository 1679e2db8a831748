import { describe, expect, it } from 'vitest';
import { TickBatcher } from '../../src/redis/tick-batcher.ts';

describe('TickBatcher', () => {
  it('runs the calls of one turn of the event loop as one batch, answering each call its own result', async () => {
    const batches: number[][] = [];
    const batcher = new TickBatcher<number, string>(async (items) => {
      batches.push(items);
      return items.map((item) => `answer ${item}`);
    }, 50);

    expect(await Promise.all([1, 2, 3].map((item) => batcher.add(item)))).toEqual([
      'answer 1',
      'answer 2',
      'answer 3',
    ]);
    expect(await batcher.add(4)).toBe('answer 4');
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('runs a full batch at once and the rest at the end of the turn', async () => {
    const batches: number[][] = [];
    const batcher = new TickBatcher<number, number>(async (items) => {
      batches.push(items);
      return items;
    }, 2);

    const calls = [1, 2, 3, 4, 5].map((item) => batcher.add(item));
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(await Promise.all(calls)).toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("rejects every call of a failed batch with its error, and the next turn's calls start afresh", async () => {
    let fail = true;
    const batcher = new TickBatcher<number, number>(async (items) => {
      if (fail) throw new Error('NOSCRIPT and then the connection closed');
      return items;
    }, 50);

    const failed = [1, 2].map((item) => batcher.add(item));
    for (const call of failed) await expect(call).rejects.toThrow('connection closed');
    fail = false;
    expect(await batcher.add(3)).toBe(3);
  });
});
