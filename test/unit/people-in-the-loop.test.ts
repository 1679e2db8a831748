import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApprovalRules } from '../../src/agent/approval-rules.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { isBatonError } from '../../src/errors.ts';
import { promptFallbackText } from '../../src/gateway/delivery/prompt-message.ts';
import { renderBoardText } from '../../src/gateway/render-board.ts';
import { resolveAnswer } from '../../src/tasks/prompt-responses.ts';
import { askUserInputSchema } from '../../src/tools/people/ask-user-tool.ts';
import { defineTool } from '../../src/tools/tool.ts';

const tool = (name: string, needsApproval?: boolean) =>
  defineTool({
    name,
    description: name,
    inputSchema: z.object({ command: z.string().optional() }),
    ...(needsApproval ? { needsApproval } : {}),
    execute: async () => ({}),
  });

describe('approvals config', () => {
  it('defaults: nothing needs approval, the owner approves, a day to decide, 50 parked per session', () => {
    const config = loadConfig({ env: {} });
    expect(config.approvals).toEqual({ required_for: [], approvers: 'owner', timeout_s: 86_400 });
    expect(config.tools.terminal.approve_patterns).toEqual([]);
    expect(config.delegation.max_parked_per_session).toBe(50);
    expect(config.delegation.ask_user_timeout_s).toBe(86_400);
  });

  it('reports an approve pattern that is not a regular expression by its path', () => {
    const caught = (() => {
      try {
        loadConfig({
          env: {},
          overrides: { tools: { terminal: { approve_patterns: ['ok', '(unclosed'] } } },
        });
      } catch (error) {
        return error;
      }
    })();
    expect(isBatonError(caught, 'config_invalid')).toBe(true);
    expect((caught as Error).message).toMatch(
      /tools\.terminal\.approve_patterns\.1.*not a valid regular expression/,
    );
  });

  it('refuses approvers other than owner, admins or channel', () => {
    expect(() => loadConfig({ env: {}, overrides: { approvals: { approvers: 'anyone' } } })).toThrow(
      /approvals\.approvers/,
    );
  });
});

describe('ApprovalRules', () => {
  const rules = (requiredFor: string[], patterns: string[] = []) =>
    new ApprovalRules(
      loadConfig({
        env: {},
        overrides: {
          approvals: { required_for: requiredFor },
          tools: { terminal: { approve_patterns: patterns } },
        },
      }),
    );

  it('needs approval for listed tools and for tools that always need it', () => {
    expect(rules(['terminal']).needsApproval(tool('terminal'), { command: 'ls' })).toBe(true);
    expect(rules(['terminal']).needsApproval(tool('read_file'), {})).toBe(false);
    expect(rules([]).needsApproval(tool('tracker__delete', true), {})).toBe(true);
  });

  it('with approve_patterns, only matching terminal commands need it', () => {
    const matching = rules(['terminal'], ['^git push', '\\brm\\s+-rf\\b']);
    expect(matching.needsApproval(tool('terminal'), { command: 'git push origin main' })).toBe(true);
    expect(matching.needsApproval(tool('terminal'), { command: 'cd x && rm -rf build' })).toBe(true);
    expect(matching.needsApproval(tool('terminal'), { command: 'git status' })).toBe(false);
    // Patterns only narrow the terminal: unlisted, a matching command needs nothing.
    expect(rules([], ['.*']).needsApproval(tool('terminal'), { command: 'rm -rf /' })).toBe(false);
  });
});

describe('ask_user arguments and answers', () => {
  it('takes at most five choices', () => {
    expect(askUserInputSchema.safeParse({ question: 'Q?', choices: ['a', 'b', 'c', 'd', 'e'] }).success).toBe(
      true,
    );
    expect(
      askUserInputSchema.safeParse({ question: 'Q?', choices: ['a', 'b', 'c', 'd', 'e', 'f'] }).success,
    ).toBe(false);
    expect(askUserInputSchema.safeParse({ question: '  ' }).success).toBe(false);
  });

  it('#n picks the n-th choice; other text is the answer as written', () => {
    expect(resolveAnswer('#2', ['red', 'blue'])).toBe('blue');
    expect(resolveAnswer('  #1 ', ['red', 'blue'])).toBe('red');
    expect(resolveAnswer('blue, but darker', ['red', 'blue'])).toBe('blue, but darker');
    expect(resolveAnswer('#2 please', ['red'])).toBe('#2 please');
    for (const bad of ['#0', '#3', '']) {
      expect(() => resolveAnswer(bad, ['red', 'blue'])).toThrow();
    }
    expect(() => resolveAnswer('#1', [])).toThrow(/no choices/);
  });
});

describe('promptFallbackText', () => {
  it('spells out the answer commands, with the choices numbered', () => {
    const text = promptFallbackText({
      kind: 'question',
      taskId: 't_abc123',
      goal: 'paint the button',
      ownerName: 'Ada',
      text: 'Which colour?',
      choices: ['red', 'blue'],
    });
    expect(text).toContain('Task `t_abc123` (paint the button), started by Ada, asks:');
    expect(text).toContain('> Which colour?');
    expect(text).toContain('**#2** blue');
    expect(text).toContain('`/baton answer t_abc123 <your answer>`');
    expect(text).toContain('`/task answer id:t_abc123 text:…`');
  });

  it('shows exactly what waits for approval, and the approve and deny commands', () => {
    const text = promptFallbackText({
      kind: 'approval',
      taskId: 't_abc123',
      goal: 'clean up',
      ownerName: 'Ada',
      text: 'wants to run terminal',
      choices: [],
      action: { tool: 'terminal', arguments: '{"command":"rm -rf build"}', workspace: 'app' },
    });
    expect(text).toContain('waits for approval to run `terminal`');
    expect(text).toContain('{"command":"rm -rf build"}');
    expect(text).toContain('in workspace `app`');
    expect(text).toContain('`/baton approve t_abc123`');
    expect(text).toContain('`/baton deny t_abc123 [reason]`');
  });
});

describe('a task board row of a parked task', () => {
  it('names what it waits for and shows its prompt as the last activity', () => {
    const row = {
      taskId: 't_abcd12',
      parentTaskId: null,
      depth: 1,
      goal: 'Clean up',
      elapsedSeconds: 42,
      steps: 2,
    };
    const text = renderBoardText({
      sessionKey: 's',
      settled: false,
      rows: [
        { ...row, status: 'waiting_input', lastActivity: '10:00:00 prompt-asked asked: Which branch?' },
        {
          ...row,
          taskId: 't_efgh34',
          status: 'waiting_approval',
          lastActivity: '10:00:01 prompt-asked approval for terminal {"command":"rm -rf build"}',
        },
      ],
    });
    expect(text).toContain('1 waiting input · 1 waiting approval');
    expect(text).toContain('`t_abcd12` ❓ waiting for an answer · 42s · 2 steps — Clean up');
    expect(text).toContain('↳ 10:00:00 prompt-asked asked: Which branch?');
    expect(text).toContain('`t_efgh34` 🔐 waiting for approval');
    expect(text).toContain('↳ 10:00:01 prompt-asked approval for terminal {"command":"rm -rf build"}');
  });
});
