import { describe, expect, it } from 'vitest';
import { parsePromptButtonId, promptButtonId } from '../../adapters/discord/discord-prompt.ts';
import { mentionCommandText } from '../../adapters/slack/slack-inbound-text.ts';
import type { TaskPrompt } from '../../src/gateway/chat-adapter.ts';
import { pressedPromptCommand, promptButtons } from '../../src/gateway/chat-adapter.ts';
import { parseCommand } from '../../src/gateway/command-router.ts';
import { chatCommandText } from '../../src/gateway/typed-command.ts';

const question: TaskPrompt = {
  kind: 'question',
  taskId: 't_ask2q9',
  goal: 'g',
  ownerName: 'Ada',
  text: 'Which?',
  choices: ['a', 'b', 'c', 'd', 'e', 'f'],
};

describe('prompt buttons', () => {
  it('are a choice each (the first five) or Approve / Deny, each the chat command it stands for', () => {
    expect(promptButtons(question).map((button) => button.command)).toEqual([
      'answer t_ask2q9 #1',
      'answer t_ask2q9 #2',
      'answer t_ask2q9 #3',
      'answer t_ask2q9 #4',
      'answer t_ask2q9 #5',
    ]);
    expect(promptButtons({ ...question, kind: 'approval', choices: [] })).toEqual([
      { label: 'Approve', command: 'approve t_ask2q9', style: 'approve' },
      { label: 'Deny', command: 'deny t_ask2q9', style: 'deny' },
    ]);
    for (const button of promptButtons(question)) {
      expect('error' in parseCommand(button.command)).toBe(false);
      expect(pressedPromptCommand(button.command)).toBe(button.command);
      expect(parsePromptButtonId(promptButtonId(button))).toBe(button.command);
    }
  });

  it('come back only in the shapes they are made in', () => {
    for (const value of [
      'answer t_ask2q9 #6',
      'answer t_ask2q9 #0',
      'answer t_ask2q9 blue',
      'cancel t_ask2q9',
      'approve t_ask2q9 now',
      'deny T_ASK2Q9',
      ' approve t_ask2q9',
      '',
    ]) {
      expect([value, pressedPromptCommand(value)]).toEqual([value, null]);
    }
  });

  it('and the same words after a Slack mention are commands', () => {
    expect(mentionCommandText('answer t_ask2q9 blue, please', chatCommandText)).toBe(
      'answer t_ask2q9 blue, please',
    );
    expect(mentionCommandText('approve t_ask2q9', chatCommandText)).toBe('approve t_ask2q9');
    expect(mentionCommandText('deny t_ask2q9 not today', chatCommandText)).toBe('deny t_ask2q9 not today');
    // A request that merely starts with the word is a message for the parent.
    expect(mentionCommandText('answer the question in the doc', chatCommandText)).toBeNull();
  });
});
