import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTurnItem } from '../../src/gateway/turn-item.ts';
import { keyLifetimes, lifetimeSeconds, ttlSeconds } from '../../src/redis/key-lifetimes.ts';
import { turnStreamSchema } from '../../src/sessions/parent-turn-checkpoints.ts';
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

  it("reads a turn's stream record, and one written before a reply could stream into several messages", () => {
    const legacy = JSON.stringify({ turnId: 'message-e1', messageId: '1700000000.000100', mode: 'native' });
    expect(parseStored(turnStreamSchema, legacy)).toEqual({
      ok: true,
      value: { turnId: 'message-e1', messages: [{ messageId: '1700000000.000100', mode: 'native' }] },
    });
    const current = {
      turnId: 'message-e2',
      messages: [{ messageId: 'm1', mode: 'edit' }],
      starting: { index: 1, mode: 'edit', at: 1_790_000_000_000, text: 'more of the reply ▌' },
    };
    expect(parseStored(turnStreamSchema, JSON.stringify(current))).toEqual({ ok: true, value: current });
    const badStart = { ...current, starting: { ...current.starting, index: -1 } };
    expect(parseStored(turnStreamSchema, JSON.stringify(badStart)).ok).toBe(false);
    expect(parseStored(turnStreamSchema, JSON.stringify({ turnId: 'x', messageId: '' })).ok).toBe(false);
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
