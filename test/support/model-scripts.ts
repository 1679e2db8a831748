import {
  type FakeHandler,
  type FakeReply,
  type RecordedRequest,
  textReply,
  toolCallReply,
} from '../fakes/fake-openai-server.ts';

/** The system prompt marker of the test parent agent. */
export const parentSystemPrompt = 'You are the TEST PARENT agent.';

export function systemPromptOf(request: RecordedRequest): string {
  const first = request.body?.messages?.[0];
  return typeof first?.content === 'string' ? first.content : '';
}

/** The goal a child request was made for, read off the child system prompt; null for other requests. */
export function goalOf(request: RecordedRequest): string | null {
  const match = /\nGoal:\n([^\n]*)/.exec(systemPromptOf(request));
  return match ? match[1]! : null;
}

export function isParentRequest(request: RecordedRequest): boolean {
  return systemPromptOf(request).startsWith(parentSystemPrompt);
}

/** Messages of a request as plain objects. */
export function messagesOf(
  request: RecordedRequest,
): Array<{ role: string; content?: unknown; tool_calls?: unknown }> {
  return (request.body?.messages ?? []) as Array<{ role: string; content?: unknown; tool_calls?: unknown }>;
}

/** The last user message of a request: a parent turn's input. */
export function turnInputOf(request: RecordedRequest): string {
  const users = messagesOf(request).filter((message) => message.role === 'user');
  return String(users.at(-1)?.content ?? '');
}

export type GoalScript = (request: RecordedRequest, callNumber: number) => FakeReply | Promise<FakeReply>;

/**
 * Routes each request to a script by the child's goal (the parent has its own script), counting calls
 * per goal from 1. Requests with no script fall through to the fake's queue.
 */
export function scriptByGoal(scripts: Record<string, GoalScript>, parent?: GoalScript): FakeHandler {
  const calls = new Map<string, number>();
  return (request) => {
    // Anything that is not a child (no goal in its system prompt) is a parent agent's request.
    const key = goalOf(request) === null ? '__parent__' : goalOf(request)!;
    const script = key === '__parent__' ? parent : scripts[key];
    if (!script) return undefined;
    const callNumber = (calls.get(key) ?? 0) + 1;
    calls.set(key, callNumber);
    return script(request, callNumber);
  };
}

/** The JSON results of the tool messages in a request, in order. */
export function toolResultsOf(request: RecordedRequest): unknown[] {
  return messagesOf(request)
    .filter((message) => message.role === 'tool')
    .map((message) => JSON.parse(String(message.content)));
}

/**
 * The model of a person-in-the-loop test: the parent delegates `goal` in the background and says so; the child
 * asks `ask` on its first call, then finishes with "Painted it: " and the JSON of the last tool result it got
 * (the answer). Each call makes a new script: the calls of a goal are counted per script.
 */
export function childAsksThenFinishes(
  goal: string,
  ask: { question: string; choices: string[] },
): FakeHandler {
  return scriptByGoal(
    {
      [goal]: (request, call) =>
        call === 1
          ? toolCallReply([{ name: 'ask_user', arguments: ask }])
          : textReply(`Painted it: ${JSON.stringify(toolResultsOf(request).at(-1))}`),
    },
    (request) =>
      messagesOf(request).at(-1)?.role === 'tool'
        ? textReply('A background task is on it.')
        : toolCallReply([{ name: 'delegate_task_async', arguments: { goal } }]),
  );
}
