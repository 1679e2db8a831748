import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTurnItem } from '../../src/gateway/turn-item.ts';
import { keyLifetimes, lifetimeSeconds, ttlSeconds } from '../../src/redis/key-lifetimes.ts';
import { parentTurnCheckpointSchema, parseStored } from '../../src/sessions/stored-shapes.ts';

describe('stored session shapes', () => {
  it('reads a checkpoint without a version as version 0, and refuses one whose input is missing', () => {
    const legacy = JSON.stringify({
      turnId: 'message-1',
      messages: [{ role: 'user', content: 'Ada: hi' }],
      steps: 0,
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      firstNew: 0,
    });
    const read = parseStored(parentTurnCheckpointSchema, legacy);
    expect(read.ok && read.value.version).toBe(0);
    const broken = JSON.stringify({ ...JSON.parse(legacy), firstNew: 3 });
    expect(parseStored(parentTurnCheckpointSchema, broken).ok).toBe(false);
    expect(parseStored(parentTurnCheckpointSchema, '{"turnId":').ok).toBe(false);
  });

  it('reads queued turns back and refuses one that is not a turn', () => {
    const ref = { platform: 'test', channel: 'c1', thread: 't1' };
    expect(parseTurnItem(JSON.stringify({ kind: 'task-ended', taskId: 't_1', ref }))).toEqual({
      kind: 'task-ended',
      taskId: 't_1',
      ref,
    });
    expect(() => parseTurnItem(JSON.stringify({ kind: 'message', message: { ref } }))).toThrow();
  });
});

describe('key lifetimes', () => {
  it('resolves retention from config and has no TTL for families bounded another way', () => {
    expect(ttlSeconds('sessionHistory', 600)).toBe(600);
    expect(lifetimeSeconds('sessionTurns', 600)).toBeNull();
    expect(() => ttlSeconds('knownThreads', 600)).toThrow();
    expect(keyLifetimes.seenEvent).toBe(24 * 3600);
  });

  it('leaves no TTL literal in the session scripts: they take their lifetimes as arguments', () => {
    const folder = new URL('../../src/sessions/lua/', import.meta.url);
    for (const file of readdirSync(folder)) {
      const source = readFileSync(new URL(file, folder), 'utf8');
      expect(source, file).not.toMatch(/(EXPIRE|'EX')['",\s]+[^A]*?\b\d{3,}\b/);
    }
  });
});
