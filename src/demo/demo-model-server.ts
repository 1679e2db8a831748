import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/**
 * OFFLINE DEMO MODEL — not a language model. An OpenAI-compatible chat-completions server on
 * 127.0.0.1 that answers by rule, so a newcomer can watch the whole flow (delegation, background
 * children, steering, results posted back) with no API key. It is stateless: every answer is decided
 * from the request's messages and offered tools. Every text it writes starts with "[demo model] ".
 */

/** The model name the demo server reports and lists. */
export const demoModelName = 'baton-demo';
/** The tool demo children call once a step, so their progress shows; the `demo` toolset provides it. */
export const demoProgressToolName = 'note_progress';

export interface DemoModelServerOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Milliseconds a child's answer takes, so people can steer mid-flight; default 2500. The parent takes a third. */
  stepDelayMs?: number;
}

export interface DemoModelServer {
  /** e.g. `http://127.0.0.1:43123/v1`, for a model route's `base_url`. */
  baseURL: string;
  /** Answers still being prepared (waiting out their delay); 0 once aborted requests are dropped. */
  pendingReplies(): number;
  /** Stops listening, drops every pending answer and open connection. */
  close(): Promise<void>;
}

const replyPrefix = '[demo model] ';
/** Tool-call steps a demo child takes before its final answer (so 4 model calls in all). */
const childProgressSteps = 3;
const steeringPattern = /^\[Steering message from (.+?)\]: ([\s\S]*)$/;
const taskIdPattern = /\bt_[a-z0-9]{4,16}\b/gi;
const statusQuestionPattern = /\b(status|how is|how's|how are|progress|doing|update)\b/i;
const steerRequestPattern = /\b(steer|tell)\b/i;
const endedPattern = /\b(completed|finished|ended|failed|timed out|timed_out|cancelled)\b/i;
const cancelRequestPattern = /\b(cancel|stop|abort)\b/i;

// Only what the demo reads is checked; everything else a client sends is accepted as is.
const contentSchema = z
  .union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).loose())])
  .nullish();
const requestSchema = z
  .object({
    model: z.string().optional(),
    messages: z
      .array(
        z
          .object({
            role: z.string(),
            content: contentSchema,
            tool_call_id: z.string().optional(),
            tool_calls: z
              .array(
                z
                  .object({
                    id: z.string(),
                    function: z.object({ name: z.string(), arguments: z.string() }).loose(),
                  })
                  .loose(),
              )
              .nullish(),
          })
          .loose(),
      )
      .min(1),
    tools: z.array(z.object({ function: z.object({ name: z.string() }).loose() }).loose()).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullish(),
  })
  .loose();

interface DemoMessage {
  role: string;
  text: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  toolCallId: string | undefined;
}

interface DemoRequest {
  model: string;
  messages: DemoMessage[];
  toolNames: ReadonlySet<string>;
}

interface DemoReply {
  content: string | null;
  toolCalls: Array<{ name: string; arguments: Record<string, unknown> }>;
  delayMs: number;
}

export async function startDemoModelServer(options: DemoModelServerOptions = {}): Promise<DemoModelServer> {
  const stepDelayMs = options.stepDelayMs ?? 2500;
  const pending = new Set<NodeJS.Timeout>();

  const server = http.createServer((incoming, response) => {
    const path = (incoming.url ?? '/').split('?')[0]!;
    if (incoming.method === 'GET' && path === '/v1/models') {
      sendJson(response, 200, {
        object: 'list',
        data: [{ id: demoModelName, object: 'model', created: 0, owned_by: 'baton-offline-demo' }],
      });
      return;
    }
    if (incoming.method !== 'POST' || path !== '/v1/chat/completions') {
      sendError(response, 404, `no route ${incoming.method} ${path}`);
      return;
    }
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: z.infer<typeof requestSchema>;
      try {
        const parsed = requestSchema.safeParse(JSON.parse(raw));
        if (!parsed.success) {
          sendError(response, 400, `invalid request: ${z.prettifyError(parsed.error)}`);
          return;
        }
        body = parsed.data;
      } catch {
        sendError(response, 400, 'the request body is not JSON');
        return;
      }
      const request = normaliseRequest(body);
      const reply = decideReply(request, stepDelayMs);
      const timer = setTimeout(() => {
        pending.delete(timer);
        if (response.destroyed) return;
        const completion = { reply, model: request.model, promptChars: raw.length };
        if (body.stream) writeEventStream(response, completion, body.stream_options?.include_usage === true);
        else sendJson(response, 200, completionObject(completion));
      }, reply.delayMs);
      pending.add(timer);
      // The client gave up (an aborted call, a cancelled child): drop the answer and its timer.
      response.once('close', () => {
        clearTimeout(timer);
        pending.delete(timer);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    pendingReplies: () => pending.size,
    close() {
      for (const timer of pending) clearTimeout(timer);
      pending.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function normaliseRequest(body: z.infer<typeof requestSchema>): DemoRequest {
  return {
    model: body.model ?? demoModelName,
    messages: body.messages.map((message) => ({
      role: message.role,
      text:
        typeof message.content === 'string'
          ? message.content
          : (message.content ?? []).map((part) => part.text ?? '').join(''),
      toolCalls: (message.tool_calls ?? []).map((call) => ({
        id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
      })),
      toolCallId: message.tool_call_id,
    })),
    toolNames: new Set((body.tools ?? []).map((tool) => tool.function.name)),
  };
}

/** Children are recognised by their system prompt, parents by the delegation tools they are offered. */
function decideReply(request: DemoRequest, stepDelayMs: number): DemoReply {
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
  return { content: `${replyPrefix}${content}`, toolCalls: [], delayMs };
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
      `Task \`${mentionedIds[0]}\` has ended. What it reported:\n\n${userText.slice(0, 3000)}`,
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
  const flat = value.replace(/\s+/g, ' ').trim();
  return flat.length <= maxLength ? flat : `${flat.slice(0, maxLength - 1)}…`;
}

// ---- the wire ------------------------------------------------------------------------------------

interface Completion {
  reply: DemoReply;
  model: string;
  promptChars: number;
}

interface WireToolCall {
  id: string;
  name: string;
  arguments: string;
}

function wireToolCalls(reply: DemoReply): WireToolCall[] {
  return reply.toolCalls.map((call) => ({
    id: `call_demo_${randomUUID().replaceAll('-', '').slice(0, 20)}`,
    name: call.name,
    arguments: JSON.stringify(call.arguments),
  }));
}

/** Plausible figures: about four characters a token. */
function usageOf(completion: Completion, toolCalls: WireToolCall[]) {
  const produced =
    (completion.reply.content?.length ?? 0) + toolCalls.reduce((sum, call) => sum + call.arguments.length, 0);
  const promptTokens = Math.max(1, Math.ceil(completion.promptChars / 4));
  const completionTokens = Math.max(1, Math.ceil(produced / 4));
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

function finishReasonOf(toolCalls: WireToolCall[]): string {
  return toolCalls.length > 0 ? 'tool_calls' : 'stop';
}

function completionObject(completion: Completion): Record<string, unknown> {
  const toolCalls = wireToolCalls(completion.reply);
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: completion.reply.content,
    refusal: null,
    ...(toolCalls.length > 0
      ? {
          tool_calls: toolCalls.map((call) => ({
            id: call.id,
            type: 'function',
            function: { name: call.name, arguments: call.arguments },
          })),
        }
      : {}),
  };
  return {
    id: `chatcmpl-demo-${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: completion.model,
    choices: [{ index: 0, finish_reason: finishReasonOf(toolCalls), logprobs: null, message }],
    usage: usageOf(completion, toolCalls),
  };
}

/** Pieces of a few words each, so streaming clients assemble fragments as they would from a real model. */
function pieces(value: string, size = 24): string[] {
  const result: string[] = [];
  for (let start = 0; start < value.length; start += size) result.push(value.slice(start, start + size));
  return result;
}

/** Frames as OpenAI sends them (TESTING.md): role first, tool calls with index/id/type/name, finish, usage, [DONE]. */
function writeEventStream(response: http.ServerResponse, completion: Completion, includeUsage: boolean) {
  const toolCalls = wireToolCalls(completion.reply);
  const id = `chatcmpl-demo-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: completion.model,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    })}\n\n`;
  const delta = (value: Record<string, unknown>, finishReason: string | null = null) => ({
    index: 0,
    delta: value,
    logprobs: null,
    finish_reason: finishReason,
  });
  const content = completion.reply.content;
  const frames = [frame([delta({ role: 'assistant', content: content === null ? null : '' })])];
  for (const piece of pieces(content ?? '')) frames.push(frame([delta({ content: piece })]));
  toolCalls.forEach((call, index) => {
    frames.push(
      frame([
        delta({
          tool_calls: [
            { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
          ],
        }),
      ]),
    );
    for (const piece of pieces(call.arguments)) {
      frames.push(frame([delta({ tool_calls: [{ index, function: { arguments: piece } }] })]));
    }
  });
  frames.push(frame([delta({}, finishReasonOf(toolCalls))]));
  if (includeUsage) frames.push(frame([], { usage: usageOf(completion, toolCalls) }));
  frames.push('data: [DONE]\n\n');
  response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  response.end(frames.join(''));
}

function sendJson(response: http.ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload);
}

function sendError(response: http.ServerResponse, status: number, message: string) {
  sendJson(response, status, {
    error: { message: `${replyPrefix}${message}`, type: 'invalid_request_error', param: null, code: null },
  });
}
