import { describe, expect, it } from 'vitest';
import { promptButtons, promptOutcomeIcon } from '../../src/gateway/chat-adapter.ts';
import {
  promptFallbackText,
  promptMessage,
  promptOutcome,
} from '../../src/gateway/delivery/prompt-message.ts';
import type { TaskPromptState, TaskRecord } from '../../src/tasks/task-record.ts';

const askedAt = Date.UTC(2030, 0, 1, 9, 0);
const question: TaskPromptState = {
  round: 1,
  kind: 'question',
  callId: 'call_1',
  text: 'Which environment?',
  choices: ['production', 'staging'],
  askedAt,
  expiresAt: askedAt + 86_400_000,
};
const approval: TaskPromptState = {
  round: 2,
  kind: 'approval',
  callId: 'call_2',
  text: 'wants to run terminal',
  choices: [],
  action: { tool: 'terminal', arguments: '{"command":"rm -rf build"}' },
  askedAt,
  expiresAt: askedAt + 90_000,
};
const at = askedAt + 5000;

describe('promptOutcome', () => {
  it('names who answered, with the choice number when the answer is a choice', () => {
    const base = { round: 1, kind: 'question' as const, by: 'Ann', at };
    expect(promptOutcome({ prompt: question, response: { ...base, answer: 'staging' } })).toEqual({
      kind: 'answered',
      text: 'Answered by Ann: #2 staging',
      at,
    });
    const words = promptOutcome({
      prompt: question,
      response: { ...base, answer: `the canary\nfirst ${'x'.repeat(900)}` },
    });
    expect(words.text.startsWith('Answered by Ann: the canary first x')).toBe(true);
    expect(words.text.length).toBeLessThanOrEqual('Answered by Ann: '.length + 500);
  });

  it('says who approved or denied what, and why', () => {
    const base = { round: 2, kind: 'approval' as const, by: 'Bob', at };
    expect(promptOutcome({ prompt: approval, response: { ...base, approved: true } }).text).toBe(
      'Approved by Bob — terminal',
    );
    expect(
      promptOutcome({ prompt: approval, response: { ...base, approved: false, reason: 'not on\nprod' } }),
    ).toEqual({ kind: 'denied', text: 'Denied by Bob — terminal: not on prod', at });
    expect(promptOutcome({ prompt: approval, response: { ...base, approved: false } }).text).toBe(
      'Denied by Bob — terminal',
    );
  });

  it('says how long nobody answered, as people say it', () => {
    expect(
      promptOutcome({ prompt: question, response: { round: 1, kind: 'question', timedOut: true, at } }),
    ).toEqual({ kind: 'timed_out', text: 'No answer in time (24 h)', at });
    expect(
      promptOutcome({ prompt: approval, response: { round: 2, kind: 'approval', timedOut: true, at } }).text,
    ).toBe('No decision in time (90 s): denied');
  });

  it('says the task ended while it waited', () => {
    expect(
      promptOutcome({ prompt: question, ended: { status: 'cancelled', note: 'cancelled by Ann', at } }),
    ).toEqual({ kind: 'cancelled', text: 'No longer waiting: cancelled by Ann', at });
    expect(promptOutcome({ prompt: question, ended: { status: 'timed_out', at } })).toEqual({
      kind: 'ended',
      text: 'No longer waiting: the task timed out',
      at,
    });
  });
});

describe('a settled prompt message', () => {
  const record = {
    id: 't_abc123',
    goal: 'clean up',
    origin: { platform: 'test', channel: 'c1', thread: 'th1', user: 'u1', userName: 'Ada' },
    prompt: approval,
  } as unknown as TaskRecord;

  it('has no buttons, and its fallback says how instead of which commands answer it', () => {
    const outcome = promptOutcome({
      prompt: approval,
      response: {
        round: 2,
        kind: 'approval',
        approved: false,
        reason: 'key sk-live0123456789abcdefghij',
        by: 'Bob',
        at,
      },
    });
    const message = promptMessage(record, '/baton', approval, outcome)!;
    expect(promptButtons(message.prompt)).toEqual([]);
    expect(message.prompt.outcome?.text).not.toContain('sk-live0123456789abcdefghij');
    expect(message.fallbackText).toContain('waited for approval to run `terminal`');
    expect(message.fallbackText).toContain(`${promptOutcomeIcon(outcome)} Denied by Bob — terminal: key`);
    expect(message.fallbackText).not.toContain('/baton approve');
    // Unsettled, the same prompt still has its buttons and commands.
    const open = promptMessage(record, '/baton')!;
    expect(promptButtons(open.prompt)).toHaveLength(2);
    expect(promptFallbackText(open.prompt)).toContain('/baton approve t_abc123');
  });
});
