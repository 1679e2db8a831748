import { z } from 'zod';
import { BatonError } from '../../errors.ts';
import { defineTool, type Tool } from '../tool.ts';

export const askUserToolName = 'ask_user';

/** Most choices one question offers (one button each). */
export const maxAskUserChoices = 5;

/** The longest an ask_user question may wait, in seconds (7 days). */
export const maxAskUserTimeoutSeconds = 7 * 86_400;

export const askUserInputSchema = z.object({
  question: z
    .string()
    .trim()
    .min(1)
    .max(2000)
    .describe('The question, complete enough to answer on its own.'),
  choices: z
    .array(z.string().trim().min(1).max(80))
    .max(maxAskUserChoices)
    .optional()
    .describe(`Up to ${maxAskUserChoices} short answers to pick from; the person may also answer in words.`),
  timeout_s: z
    .number()
    .positive()
    .max(maxAskUserTimeoutSeconds)
    .optional()
    .describe('How long to wait for an answer, in seconds (default: delegation.ask_user_timeout_s).'),
});

export type AskUserInput = z.infer<typeof askUserInputSchema>;

/**
 * `ask_user`: every child has it. The child run answers it itself (see agent/child-prompts.ts): the task
 * parks in `waiting_input`, the question is posted in its thread, and the answer comes back as this tool's
 * result, naming who answered. Nothing reaches `execute` but a call the run could not park.
 */
export function createAskUserTool(defaultTimeoutSeconds: number): Tool {
  return defineTool({
    name: askUserToolName,
    description:
      'Ask the person who gave you this task a question and wait for the answer (it may take hours; you ' +
      'use no resources while waiting). Use it when a decision is theirs to make or the goal is ambiguous, ' +
      `not for things you can find out. Give choices when there are a few clear options. Default wait ${defaultTimeoutSeconds} s; ` +
      'no answer in time is an error result: then decide yourself and say so in your answer.',
    inputSchema: askUserInputSchema,
    async execute() {
      throw new BatonError('tool_failed', 'ask_user is only available to child tasks run by a worker', {
        fault: 'model',
      });
    },
  });
}
