import type { TaskPrompt } from '../../src/gateway/chat-adapter.ts';

/** A question with two choices, the second longer than a button's label holds; it expires 2030-01-02 03:04 UTC. */
export const sampleQuestion: TaskPrompt = {
  kind: 'question',
  taskId: 't_ask2q9',
  goal: 'Pick the rollout window',
  ownerName: 'Ada',
  text: 'Which window should the rollout use?',
  choices: ['Tonight 22:00', `Tomorrow ${'morning '.repeat(20)}`],
  expiresAt: Date.UTC(2030, 0, 2, 3, 4),
};

/** An approval of a `terminal` call in workspace `app`; `toolArguments` is the call's JSON arguments. */
export function sampleApproval(toolArguments: string): TaskPrompt {
  return {
    kind: 'approval',
    taskId: 't_apr7k2',
    goal: 'Clean the build cache',
    ownerName: 'Ada',
    text: 'terminal wants to run a command',
    choices: [],
    action: { tool: 'terminal', arguments: toolArguments, workspace: 'app' },
  };
}
