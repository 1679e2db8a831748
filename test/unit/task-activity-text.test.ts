import { describe, expect, it } from 'vitest';
import { resultMessageText } from '../../src/gateway/delivery/result-text.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import { activityText } from '../../src/tasks/task-views.ts';

const record: TaskRecord = {
  id: 't_abc123',
  sessionKey: 'console:console:thread1',
  origin: { platform: 'console', channel: 'console', thread: 'thread1', user: 'console', userName: 'You' },
  parentTaskId: null,
  depth: 1,
  role: 'leaf',
  goal: 'Research: check the deploy logs',
  context: '',
  toolsets: [],
  route: 'default',
  status: 'completed',
  createdAt: 1_000,
  startedAt: 1_000,
  endedAt: 11_000,
  steps: 4,
  usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  summary: null,
  error: null,
  attempts: 1,
};

describe('activity lines for people', () => {
  it.each([
    [{ type: 'step-start', text: 'step 2' }, 3, 'step 2 started'],
    [{ type: 'status-change', text: 'queued' }, 0, 'waiting for a worker'],
    [{ type: 'status-change', text: 'queued -> running' }, 0, 'started'],
    [{ type: 'status-change', text: 'running -> completed' }, 4, 'finished after 4 steps'],
    [{ type: 'status-change', text: 'running -> completed' }, 1, 'finished after 1 step'],
    [
      { type: 'status-change', text: 'running -> cancelled: not needed' },
      2,
      'cancelled after 2 steps: not needed',
    ],
    [{ type: 'status-change', text: 'running -> timed_out' }, 5, 'timed out after 5 steps'],
    [
      { type: 'tool-call', text: 'fetch_url {"url":"https://logs.internal/x"}' },
      1,
      'using fetch_url: https://logs.internal/x',
    ],
    [{ type: 'tool-call', text: 'search {"query":"a","limit":3}' }, 1, 'using search'],
    [{ type: 'tool-result', text: 'fetch_url ok (120 chars)' }, 1, 'fetch_url answered'],
    [{ type: 'tool-result', text: 'fetch_url HTTP 503' }, 1, 'fetch_url failed: HTTP 503'],
    [
      { type: 'steer-applied', text: 'from Ada: focus on errors' },
      1,
      'read steering from Ada: focus on errors',
    ],
    [{ type: 'note', text: 'toolset web unavailable' }, 1, 'toolset web unavailable'],
  ] as const)('%o after %i steps reads "%s"', (event, steps, expected) => {
    expect(activityText(event, steps)).toBe(expected);
  });
});

describe('result posts', () => {
  it('quote the goal when the result does not say it', () => {
    const text = resultMessageText({ ...record, summary: 'Three errors, all in payments.' }, null);
    expect(text).toBe(
      '✅ **Task t_abc123 completed** · 4 steps · 10s\n> Research: check the deploy logs\n\nThree errors, all in payments.',
    );
  });

  it('do not repeat the goal when the result opens with it', () => {
    const text = resultMessageText(record, '**Research: Check the deploy logs**\n\nThree errors.');
    expect(text).toBe(
      '✅ **Task t_abc123 completed** · 4 steps · 10s\n\n**Research: Check the deploy logs**\n\nThree errors.',
    );
  });

  it('keep the goal on failures', () => {
    const text = resultMessageText({ ...record, status: 'failed', error: 'the API answered 503' }, null);
    expect(text).toContain('\n> Research: check the deploy logs\n');
  });
});
