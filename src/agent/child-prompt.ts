import type { ChatMessage } from '../llm/model-client.ts';
import type { SteeringMessage } from '../tasks/task-inbox.ts';
import { cutText } from '../text/cut-text.ts';

/** The child's opening conversation: a system prompt built from its goal and context. */
export function childOpeningMessages(goal: string, context: string, toolNames: string[]): ChatMessage[] {
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
