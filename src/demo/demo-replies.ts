import { cutText, oneLine as textOnOneLine } from '../text/cut-text.ts';

/**
 * How the offline demo model answers (see demo-model-server.ts): by rule, from the request's messages
 * and offered tools alone, so it keeps no state between requests.
 */

/** The tool demo children call once a step, so their progress shows; the `demo` toolset provides it. */
export const demoProgressToolName = 'note_progress';
/** The start of every text the demo model writes, errors included. */
export const demoReplyPrefix = '[demo model] ';

/** Tool-call steps a demo child takes before its final answer (so 4 model calls in all). */
const childProgressSteps = 3;
const steeringPattern = /^\[Steering message from (.+?)\]: ([\s\S]*)$/;
const taskIdPattern = /\bt_[a-z0-9]{4,16}\b/gi;
const statusQuestionPattern = /\b(status|how is|how's|how are|progress|doing|update)\b/i;
const steerRequestPattern = /\b(steer|tell)\b/i;
const endedPattern = /\b(completed|finished|ended|failed|timed out|timed_out|cancelled)\b/i;
const cancelRequestPattern = /\b(cancel|stop|abort)\b/i;

/** One message of a request, as the rules read it. */
export interface DemoMessage {
  role: string;
  text: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  toolCallId: string | undefined;
}

export interface DemoRequest {
  model: string;
  messages: DemoMessage[];
  toolNames: ReadonlySet<string>;
}

export interface DemoReply {
  content: string | null;
  toolCalls: Array<{ name: string; arguments: Record<string, unknown> }>;
  /** Milliseconds to wait before answering. */
  delayMs: number;
}

/**
 * The answer to one request. Children are recognised by their system prompt, parents by the delegation
 * tools they are offered; a child's answer takes `stepDelayMs`, a parent's a third of it.
 */
export function decideReply(request: DemoRequest, stepDelayMs: number): DemoReply {
  const system = request.messages.find((message) => message.role === 'system')?.text ?? '';
  if (system.includes('\nGoal:\n')) return childReply(request, system, stepDelayMs);
  const parentDelayMs = Math.round(stepDelayMs / 3);
  if (request.toolNames.has('delegate_task_async')) return parentReply(request, parentDelayMs);
  return text(
    'I am the offline demo model. I only know how to plan background tasks for a parent agent and play ' +
      'a child agent working on a goal. Configure a real model route to get real answers.',
    parentDelayMs,
  );
}

function text(content: string, delayMs: number): DemoReply {
  return { content: `${demoReplyPrefix}${content}`, toolCalls: [], delayMs };
}

function calls(delayMs: number, ...toolCalls: DemoReply['toolCalls']): DemoReply {
  return { content: null, toolCalls, delayMs };
}

// ---- child agents -------------------------------------------------------------------------------

interface Steer {
  from: string;
  text: string;
}

function steerOf(message: DemoMessage): Steer | null {
  if (message.role !== 'user') return null;
  const match = steeringPattern.exec(message.text);
  return match ? { from: match[1]!, text: match[2]!.trim() } : null;
}

function childReply(request: DemoRequest, system: string, delayMs: number): DemoReply {
  const goal = oneLine(system.slice(system.indexOf('\nGoal:\n') + 7).split('\n\nContext:\n')[0]!, 200);
  const steers = request.messages.flatMap((message) => steerOf(message) ?? []);
  const stepsDone = request.messages.filter((message) => message.role === 'tool').length;
  // Without the progress tool (or on its last allowed step, offered no tools) the child answers at once.
  if (stepsDone < childProgressSteps && request.toolNames.has(demoProgressToolName)) {
    const lastAssistant = request.messages.findLastIndex((message) => message.role === 'assistant');
    const newSteers = request.messages.slice(lastAssistant + 1).flatMap((message) => steerOf(message) ?? []);
    const step = stepsDone + 1;
    const note =
      newSteers.length > 0
        ? `step ${step}: applying steering from ${newSteers.map((steer) => `${steer.from}: "${oneLine(steer.text, 120)}"`).join('; ')}`
        : `step ${step}: ${childStepPlan[stepsDone]} (${oneLine(goal, 80)})`;
    return calls(delayMs, { name: demoProgressToolName, arguments: { note } });
  }
  const steeringLines =
    steers.length > 0
      ? steers.map((steer) => `- ${steer.text} (from ${steer.from})`)
      : ['- none received while this task ran'];
  return text(
    [
      `**${goal}**`,
      '',
      'This is an offline demo answer: no real model was called, so there are no real findings here. ' +
        (stepsDone > 0
          ? `The task noted its progress over ${stepsDone + 1} steps, so you could watch it and steer it.`
          : 'The task answered in one step.'),
      '',
      'Steering applied:',
      ...steeringLines,
    ].join('\n'),
    delayMs,
  );
}

const childStepPlan = [
  'reading the goal and listing what to cover',
  'working through the main points',
  'checking the result and writing the summary',
];

// ---- parent agents ------------------------------------------------------------------------------

function parentReply(request: DemoRequest, delayMs: number): DemoReply {
  const last = request.messages.at(-1);
  if (last?.role === 'tool') return summariseToolResults(request, delayMs);
  // The gateway prefixes each message with its author ("Ada: …"); the request itself follows.
  const userText = last?.role === 'user' ? last.text.trim().replace(/^[^:\n]{1,40}:\s+/, '') : '';
  if (!userText)
    return text('What should I work on? Ask me anything and I will start background tasks.', delayMs);
  const offered = request.toolNames;
  const mentionedIds = uniqueTaskIds(userText);

  if (mentionedIds.length > 0 && cancelRequestPattern.test(userText) && offered.has('cancel_task')) {
    return calls(
      delayMs,
      ...mentionedIds.map((taskId) => ({ name: 'cancel_task', arguments: { task_id: taskId } })),
    );
  }
  if (mentionedIds.length === 1 && steerRequestPattern.test(userText) && offered.has('steer_task')) {
    const message = userText
      .split(/t_[a-z0-9]{4,16}\b[:,]?\s*/i)
      .at(-1)
      ?.trim();
    if (message) {
      return calls(delayMs, { name: 'steer_task', arguments: { task_id: mentionedIds[0], message } });
    }
  }
  const asksStatus = statusQuestionPattern.test(userText);
  if (mentionedIds.length > 0 && !asksStatus && !userText.includes('?') && endedPattern.test(userText)) {
    // A task's result handed to the parent (announce: parent): pass it on.
    return text(
      `Task \`${mentionedIds[0]}\` has ended. What it reported:\n\n${cutText(userText, 3000)}`,
      delayMs,
    );
  }
  if ((mentionedIds.length > 0 || asksStatus) && offered.has('check_task')) {
    const ids = mentionedIds.length > 0 ? mentionedIds : startedTaskIds(request.messages).slice(-4);
    if (ids.length > 0) {
      return calls(delayMs, ...ids.map((taskId) => ({ name: 'check_task', arguments: { task_id: taskId } })));
    }
    if (offered.has('list_tasks')) return calls(delayMs, { name: 'list_tasks', arguments: {} });
  }
  const topic = oneLine(userText, 300);
  return calls(
    delayMs,
    {
      name: 'delegate_task_async',
      arguments: {
        goal: `Research: ${topic}`,
        context: `Someone asked in chat: "${topic}". Collect the facts and points worth knowing; a second task writes the answer.`,
      },
    },
    {
      name: 'delegate_task_async',
      arguments: {
        goal: `Draft: ${topic}`,
        context: `Someone asked in chat: "${topic}". Write a short, clear answer they can use; a second task researches.`,
      },
    },
  );
}

function summariseToolResults(request: DemoRequest, delayMs: number): DemoReply {
  const assistantIndex = request.messages.findLastIndex((message) => message.toolCalls.length > 0);
  const assistant = request.messages[assistantIndex];
  if (!assistant) return text('Done.', delayMs);
  const results = new Map(
    request.messages
      .slice(assistantIndex + 1)
      .filter((message) => message.role === 'tool')
      .map((message) => [message.toolCallId, message.text]),
  );
  const started: string[] = [];
  const startedIds: string[] = [];
  const lines: string[] = [];
  for (const call of assistant.toolCalls) {
    const raw = results.get(call.id) ?? '';
    const result = parseObject(raw);
    const taskId = String(result.task_id ?? parseObject(call.arguments).task_id ?? '');
    if (typeof result.error === 'string') {
      lines.push(`- ${call.name} failed: ${oneLine(result.error, 200)}`);
      continue;
    }
    switch (call.name) {
      case 'delegate_task_async':
        startedIds.push(taskId);
        started.push(`- \`${taskId}\` — ${oneLine(String(parseObject(call.arguments).goal ?? ''), 100)}`);
        break;
      case 'check_task': {
        const recent = Array.isArray(result.recent) ? result.recent.map(String).at(-1) : undefined;
        lines.push(
          `- \`${taskId}\` is ${result.status}: ${result.steps ?? 0} steps, ${result.elapsed_s ?? 0} s` +
            (recent ? `; latest: ${oneLine(recent, 120)}` : ''),
        );
        break;
      }
      case 'steer_task':
        lines.push(`- \`${taskId}\`: steering message queued; the task reads it at its next step.`);
        break;
      case 'cancel_task':
        lines.push(`- \`${taskId}\` is ${result.status}.`);
        break;
      case 'list_tasks': {
        const tasks = Array.isArray(result.tasks) ? (result.tasks as Array<Record<string, unknown>>) : [];
        if (tasks.length === 0) lines.push('- No tasks in this conversation yet.');
        for (const task of tasks) lines.push(`- \`${task.task_id}\` ${task.status} — ${task.goal}`);
        break;
      }
      default:
        lines.push(`- ${call.name}: ${oneLine(raw, 200)}`);
    }
  }
  if (started.length > 0) {
    const intro = `I started ${started.length} background task${started.length === 1 ? '' : 's'} for you:`;
    const outro =
      'They run in the background; each result will be posted here when it finishes. ' +
      `Ask me "how is ${startedIds[0]} doing?" for its status, or "tell ${startedIds[0]}: …" to steer it while it runs.`;
    return text([intro, ...started, ...lines, outro].join('\n'), delayMs);
  }
  return text(['Here is where things stand:', ...lines].join('\n'), delayMs);
}

function uniqueTaskIds(textToSearch: string): string[] {
  return [...new Set((textToSearch.match(taskIdPattern) ?? []).map((taskId) => taskId.toLowerCase()))];
}

/** Ids of tasks started earlier in the conversation, oldest first, read off delegate_task_async results. */
function startedTaskIds(messages: DemoMessage[]): string[] {
  const delegateCallIds = new Set(
    messages.flatMap((message) =>
      message.toolCalls.filter((call) => call.name.startsWith('delegate_task')).map((call) => call.id),
    ),
  );
  return [
    ...new Set(
      messages
        .filter((message) => message.role === 'tool' && delegateCallIds.has(message.toolCallId ?? ''))
        .flatMap((message) => uniqueTaskIds(message.text)),
    ),
  ];
}

function parseObject(raw: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function oneLine(value: string, maxLength: number): string {
  return cutText(textOnOneLine(value), maxLength);
}
