import { randomUUID } from 'node:crypto';
import http from 'node:http';
import {
  chatCompletionEventFrames,
  estimateUsage,
  eventStreamHeaders,
  splitEvery,
  type WireCompletion,
  type WireUsage,
  writeChatCompletion,
} from '../../src/llm/openai-wire-format.ts';
import { listenOnLoopback } from '../../src/net/listen-on-loopback.ts';

/**
 * A scriptable OpenAI-compatible chat-completions server on 127.0.0.1, for tests, fault injection and
 * benchmarks. Its answers are written by the product's own openai-wire-format.ts, both plain JSON and
 * `stream: true` server-sent events, in the shapes the real `openai` SDK parses; around that it adds
 * scripted errors, malformed bodies and hangs, and records every request it received.
 */

export type FakeUsage = WireUsage;

interface ReplyTiming {
  /** Milliseconds to wait before answering; an abort by the client during the wait is recorded. */
  delayMs?: number;
}

interface CompletionExtras extends ReplyTiming {
  /** Token usage to report; default: estimated from the sizes; null sends no usage at all. */
  usage?: (Partial<FakeUsage> & { cached_tokens?: number }) | null;
  /** Model name to report; default: the requested one. */
  model?: string;
  /** Default: `stop` for text, `tool_calls` for tool calls. */
  finishReason?: string;
  /**
   * When streaming: content cut into pieces of this many characters (default: about three pieces), and
   * the frames written `streamIntervalMs` apart (default 0: all at once), as a model writes them.
   */
  streamPieceChars?: number;
  streamIntervalMs?: number;
}

export interface FakeToolCall {
  name: string;
  /** An object is JSON-encoded; a string is sent as is, so tests can send malformed arguments. */
  arguments: Record<string, unknown> | string;
  id?: string;
}

export type FakeReply =
  | ({ kind: 'text'; content: string } & CompletionExtras)
  | ({ kind: 'tool_calls'; calls: FakeToolCall[]; content?: string | null } & CompletionExtras)
  | ({ kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> } & ReplyTiming)
  /** Never answers; the request stays open until the client aborts or the server closes. */
  | { kind: 'hang' }
  /** Status 200 with a body that is not valid JSON (or, when streaming, a frame that is not). */
  | ({ kind: 'malformed'; body?: string } & ReplyTiming);

export interface RecordedRequest {
  /** 0 for the first request this server received. */
  index: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The `authorization` header, e.g. `Bearer sk-…`. */
  authorization: string | undefined;
  /** Parsed JSON body; undefined when it was not JSON. */
  body: ChatRequestBody | undefined;
  /** `Date.now()` when the request body had arrived. */
  receivedAt: number;
  /** True once the client closed the connection before the answer was complete. */
  aborted: boolean;
  /** True once the answer was written completely. */
  answered: boolean;
}

/** The parts of a chat-completions request the fake reads; everything else is kept as sent. */
export interface ChatRequestBody {
  model?: string;
  messages?: Array<Record<string, unknown>>;
  tools?: Array<Record<string, unknown>>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [field: string]: unknown;
}

export type FakeHandler = (
  request: RecordedRequest,
) => FakeReply | undefined | Promise<FakeReply | undefined>;

export interface FakeOpenAIServer {
  /** e.g. `http://127.0.0.1:43123/v1`, for `new OpenAI({ baseURL })`. */
  baseURL: string;
  port: number;
  /** Every `POST /v1/chat/completions`, in arrival order (none kept when `recordRequests` is false). */
  requests: RecordedRequest[];
  /** Replaces the handler; undefined goes back to the queue alone. */
  setHandler(handler: FakeHandler | undefined): void;
  /** Replies used in order when there is no handler or the handler returns undefined. */
  enqueue(...replies: FakeReply[]): void;
  /** Resolves once `count` requests in total have arrived; rejects after `timeoutMs` (default 5 000). */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Stops listening and destroys every open socket, held requests included. */
  close(): Promise<void>;
}

export interface FakeOpenAIServerOptions {
  handler?: FakeHandler;
  /** Default 0: a free port. */
  port?: number;
  /** Answer when nothing is scripted; default a 500 saying so, so a forgotten script fails loudly. */
  defaultReply?: FakeReply;
  /** Default true; false keeps `requests` empty so a long benchmark run does not grow memory. */
  recordRequests?: boolean;
}

export function textReply(content: string, extra: CompletionExtras = {}): FakeReply {
  return { kind: 'text', content, ...extra };
}

export function toolCallReply(
  calls: FakeToolCall[],
  extra: CompletionExtras & { content?: string | null } = {},
): FakeReply {
  return { kind: 'tool_calls', calls, ...extra };
}

export function errorReply(
  status: number,
  options: { message?: string; body?: unknown; headers?: Record<string, string>; delayMs?: number } = {},
): FakeReply {
  const body = options.body ?? {
    error: {
      message: options.message ?? `fake error ${status}`,
      type: status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error',
      param: null,
      code: null,
    },
  };
  return { kind: 'error', status, body, headers: options.headers, delayMs: options.delayMs };
}

export function hangReply(): FakeReply {
  return { kind: 'hang' };
}

export function malformedReply(body = '{"id": "chatcmpl-broken", "choices": [', delayMs?: number): FakeReply {
  return { kind: 'malformed', body, delayMs };
}

export async function startFakeOpenAIServer(
  options: FakeOpenAIServerOptions = {},
): Promise<FakeOpenAIServer> {
  let handler = options.handler;
  const queue: FakeReply[] = [];
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const recordRequests = options.recordRequests ?? true;
  let received = 0;

  const notifyWaiters = () => {
    for (let index = waiters.length - 1; index >= 0; index -= 1) {
      const waiter = waiters[index]!;
      if (received >= waiter.count) {
        waiters.splice(index, 1);
        waiter.resolve();
      }
    }
  };

  const chooseReply = async (request: RecordedRequest): Promise<FakeReply> => {
    const fromHandler = handler ? await handler(request) : undefined;
    return (
      fromHandler ??
      queue.shift() ??
      options.defaultReply ??
      errorReply(500, { message: `fake-openai: no reply scripted for request #${request.index}` })
    );
  };

  const server = http.createServer((incoming, response) => {
    const path = (incoming.url ?? '/').split('?')[0]!;
    if (incoming.method === 'GET' && path === '/v1/models') {
      sendJson(response, 200, modelList());
      return;
    }
    if (incoming.method !== 'POST' || path !== '/v1/chat/completions') {
      sendJson(response, 404, {
        error: { message: `no route ${incoming.method} ${path}`, type: 'not_found' },
      });
      return;
    }
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedRequest = {
        index: received,
        method: incoming.method ?? 'POST',
        path,
        headers: incoming.headers,
        authorization: incoming.headers.authorization,
        body: parseBody(raw),
        receivedAt: Date.now(),
        aborted: false,
        answered: false,
      };
      received += 1;
      if (recordRequests) requests.push(recorded);
      response.on('close', () => {
        if (!response.writableFinished) recorded.aborted = true;
      });
      notifyWaiters();
      if (!recorded.body) {
        sendJson(response, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
        return;
      }
      void chooseReply(recorded).then(
        (reply) => answer(recorded, response, reply, raw.length),
        (error: unknown) =>
          sendJson(response, 500, { error: { message: String(error), type: 'fake_error' } }),
      );
    });
  });
  // Held requests (hangs, benchmark latency) must not be cut by Node's own timers; close() ends them.
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;
  // server.maxConnections stays unset: no limit, so 1,000+ concurrent held requests are accepted.

  const port = await listenOnLoopback(server, options.port ?? 0);

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    setHandler(next) {
      handler = next;
    },
    enqueue(...replies) {
      queue.push(...replies);
    },
    waitForRequests(count, timeoutMs = 5000) {
      if (received >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const waiter = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`fake-openai: ${received} of ${count} requests after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function parseBody(raw: string): ChatRequestBody | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed && typeof parsed === 'object' ? (parsed as ChatRequestBody) : undefined;
  } catch {
    return undefined;
  }
}

function answer(
  request: RecordedRequest,
  response: http.ServerResponse,
  reply: FakeReply,
  bodyLength: number,
) {
  if (reply.kind === 'hang') return;
  const write = () => {
    if (response.destroyed) return;
    response.once('finish', () => {
      request.answered = true;
    });
    writeReply(request, response, reply, bodyLength);
  };
  if (!reply.delayMs) {
    write();
    return;
  }
  const timer = setTimeout(write, reply.delayMs);
  // An aborted or closed connection must not keep a timer (or the process) alive.
  response.once('close', () => clearTimeout(timer));
}

function writeReply(
  request: RecordedRequest,
  response: http.ServerResponse,
  reply: FakeReply,
  bodyLength: number,
) {
  const streaming = request.body?.stream === true;
  switch (reply.kind) {
    case 'error':
      sendJson(response, reply.status, reply.body ?? {}, reply.headers);
      return;
    case 'malformed':
      if (streaming) {
        response.writeHead(200, eventStreamHeaders);
        response.end(`data: ${reply.body ?? '{'}\n\n`);
      } else {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(reply.body ?? '{');
      }
      return;
    case 'text':
    case 'tool_calls':
      if (streaming && (reply.streamIntervalMs || reply.streamPieceChars)) {
        writePacedStream(response, toWireCompletion(request, reply, bodyLength), reply, {
          includeUsage: request.body?.stream_options?.include_usage === true,
        });
        return;
      }
      writeChatCompletion(response, toWireCompletion(request, reply, bodyLength), {
        stream: streaming,
        includeUsage: request.body?.stream_options?.include_usage === true,
        fragments,
      });
      return;
    case 'hang':
      return;
  }
}

/** The event stream written frame by frame, `streamIntervalMs` apart; stops when the client goes away. */
function writePacedStream(
  response: http.ServerResponse,
  completion: WireCompletion,
  reply: CompletionExtras,
  options: { includeUsage: boolean },
) {
  const pieceChars = reply.streamPieceChars;
  const frames = chatCompletionEventFrames(completion, {
    includeUsage: options.includeUsage,
    fragments: pieceChars ? (text) => splitEvery(text, pieceChars) : fragments,
  });
  response.writeHead(200, eventStreamHeaders);
  response.flushHeaders();
  let index = 0;
  let timer: NodeJS.Timeout | undefined;
  response.once('close', () => clearTimeout(timer));
  const next = () => {
    if (response.destroyed) return;
    response.write(frames[index]!);
    index += 1;
    if (index >= frames.length) {
      response.end();
      return;
    }
    timer = setTimeout(next, reply.streamIntervalMs ?? 0);
  };
  next();
}

function sendJson(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function toWireCompletion(
  request: RecordedRequest,
  reply: Extract<FakeReply, { kind: 'text' | 'tool_calls' }>,
  bodyLength: number,
): WireCompletion {
  const content = reply.kind === 'text' ? reply.content : (reply.content ?? null);
  const toolCalls =
    reply.kind === 'tool_calls'
      ? reply.calls.map((call, index) => ({
          id: call.id ?? `call_${request.index}_${index}`,
          name: call.name,
          arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
        }))
      : [];
  const estimated = estimateUsage(bodyLength, content, toolCalls);
  let usage: FakeUsage | null = null;
  if (reply.usage !== null) {
    const promptTokens = reply.usage?.prompt_tokens ?? estimated.prompt_tokens;
    const completionTokens = reply.usage?.completion_tokens ?? estimated.completion_tokens;
    usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: reply.usage?.total_tokens ?? promptTokens + completionTokens,
      ...(reply.usage?.cached_tokens
        ? { prompt_tokens_details: { cached_tokens: reply.usage.cached_tokens } }
        : {}),
    };
  }
  return {
    id: `chatcmpl-fake-${randomUUID()}`,
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? request.body?.model ?? 'fake-model',
    content,
    toolCalls,
    finishReason: reply.finishReason ?? (reply.kind === 'tool_calls' ? 'tool_calls' : 'stop'),
    usage,
  };
}

/** Three pieces or so, so clients must really assemble fragments. */
function fragments(text: string): string[] {
  return splitEvery(text, Math.max(1, Math.ceil(text.length / 3)));
}

function modelList() {
  const created = Math.floor(Date.now() / 1000);
  return {
    object: 'list',
    data: ['fake-model', 'fake-model-large'].map((id) => ({
      id,
      object: 'model',
      created,
      owned_by: 'baton-fake',
    })),
  };
}
