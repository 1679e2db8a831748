import { describe, expect, it } from 'vitest';
import { renderBoardText } from '../../src/gateway/render-board.ts';

describe('a task board row of a workspace task', () => {
  it('shows ±N files once the child changed files, and nothing for tasks without a workspace', () => {
    const row = {
      taskId: 't_abcd12',
      parentTaskId: null,
      depth: 1,
      goal: 'Fix the build',
      status: 'completed',
      elapsedSeconds: 42,
      steps: 5,
      lastActivity: '',
    };
    const text = renderBoardText({
      sessionKey: 's',
      settled: true,
      rows: [
        { ...row, changedFiles: 3 },
        { ...row, taskId: 't_efgh34', changedFiles: 1 },
        { ...row, taskId: 't_ijkl56' },
      ],
    });
    expect(text).toContain('`t_abcd12` ✅ completed · 42s · 5 steps · ±3 files — Fix the build');
    expect(text).toContain('`t_efgh34` ✅ completed · 42s · 5 steps · ±1 file — Fix the build');
    expect(text).toContain('`t_ijkl56` ✅ completed · 42s · 5 steps — Fix the build');
  });
});

describe('a task board row of a reopened task', () => {
  it('shows its round from the second on', () => {
    const row = {
      taskId: 't_abcd12',
      parentTaskId: null,
      depth: 1,
      goal: 'Audit the logs',
      status: 'running',
      elapsedSeconds: 42,
      steps: 5,
      lastActivity: '',
    };
    const text = renderBoardText({
      sessionKey: 's',
      settled: false,
      rows: [
        { ...row, round: 2 },
        { ...row, taskId: 't_efgh34', round: 1 },
      ],
    });
    expect(text).toContain('`t_abcd12` 🔄 running · 42s · 5 steps · round 2 — Audit the logs');
    expect(text).toContain('`t_efgh34` 🔄 running · 42s · 5 steps — Audit the logs');
  });
});
