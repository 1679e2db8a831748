import { describe, expect, it } from 'vitest';
import { chatCommandText, typedCommandText } from '../../src/gateway/typed-command.ts';

describe('commands typed in a message box', () => {
  it.each([
    ['tasks', 'tasks'],
    ['  TASKS  ', 'TASKS'],
    ['/tasks', 'tasks'],
    ['status t_7k2m9q', 'status t_7k2m9q'],
    ['/status t_7k2m9q', 'status t_7k2m9q'],
    ['collect t_7k2m9q', 'collect t_7k2m9q'],
    ['help', 'help'],
    ['/help', 'help'],
    ['steer t_7k2m9q look at the EU region first', 'steer t_7k2m9q look at the EU region first'],
    // A slash marks a command even when it does not parse: the router answers with its usage line.
    ['/status', 'status'],
    ['/usage', 'usage'],
    ['/frobnicate now', 'frobnicate now'],
  ])('%j is the command %j', (typed, command) => {
    expect(typedCommandText(typed)).toBe(command);
  });

  it.each([
    'tasks for tomorrow: plan the release',
    'help me read this log',
    'cancel the deploy',
    'status of the payments service?',
    'usage', // a command word only with a slash, as before in Slack
    '/etc/hosts has a wrong entry',
    '/ tasks',
    'Please list my tasks',
  ])('%j is a message for the model', (typed) => {
    expect(typedCommandText(typed)).toBeNull();
  });

  it('reads words after a mention by the same rule, without the slash', () => {
    expect(chatCommandText('/tasks')).toBeNull();
    expect(chatCommandText('tasks')).toBe('tasks');
  });
});
