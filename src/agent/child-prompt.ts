import type { ChatMessage } from '../llm/model-client.ts';
import type { OutputSchema } from '../tasks/output-schema.ts';
import type { SteeringMessage } from '../tasks/task-inbox.ts';
import { cutText } from '../text/cut-text.ts';

/** The child's opening conversation: a system prompt built from its goal, context and output schema. */
export function childOpeningMessages(
  goal: string,
  context: string,
  toolNames: string[],
  outputSchema?: OutputSchema,
): ChatMessage[] {
  const system = [
    'You are a background worker agent. Someone handed you one goal; work on it on your own, then reply with',
    'a final answer and no tool calls. Your final answer is all the requester sees, so make it complete and',
    'self-contained: what you found or did, with sources where you used them, and anything left undone.',
    toolNames.length > 0
      ? `Tools you may use: ${toolNames.join(', ')}. Tool errors come back as {"error": ...}; adapt and go on.`
      : 'You have no tools; answer from what you know and say so where it matters.',
    'Messages that begin with [Steering message from ...] come from people overseeing your work while you run;',
    'follow them, and they take precedence over your earlier plan.',
    '',
    `Goal:\n${goal}`,
    ...(context.trim() ? ['', `Context:\n${context}`] : []),
    ...(outputSchema
      ? [
          '',
          'Answer format: your final answer must be one JSON value matching this JSON Schema (JSON only, or',
          `JSON in a \`\`\`json fence):\n${JSON.stringify(outputSchema)}`,
        ]
      : []),
  ].join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: 'Start working on the goal now.' },
  ];
}

export function steeringMessage(steer: SteeringMessage): ChatMessage {
  return { role: 'user', content: `[Steering message from ${steer.from}]: ${steer.text}` };
}

/** Caps the summary handed back to the parent; the full text is kept on the task. */
export function capSummary(text: string, maxChars: number): string {
  const trimmed = text.trim() || '(the task ended without a summary)';
  // The marker counts toward the cap; a cap too small for it gets a plain cut.
  return cutText(trimmed, maxChars, {
    marker: '… [summary cut; full text kept on the task]',
    trimEnd: false,
  });
}

/** Opens the one correction turn a child gets when its final answer does not match its output_schema. */
export const schemaCorrectionPrefix = '[Answer format check]';

export function schemaCorrectionMessage(errors: string[]): ChatMessage {
  return {
    role: 'user',
    content:
      `${schemaCorrectionPrefix} Your final answer does not match the required JSON Schema:\n` +
      errors.map((error) => `- ${error}`).join('\n') +
      '\nReply again with the corrected final answer: one JSON value matching the schema. This is your only correction.',
  };
}

/** Whether the conversation already holds the correction turn (kept in the checkpoint, so a resume knows). */
export function hasSchemaCorrection(messages: ChatMessage[]): boolean {
  return messages.some(
    (message) =>
      message.role === 'user' &&
      typeof message.content === 'string' &&
      message.content.startsWith(schemaCorrectionPrefix),
  );
}
