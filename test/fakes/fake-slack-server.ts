import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { listenOnLoopback } from '../../src/net/listen-on-loopback.ts';

/**
 * A fake Slack on 127.0.0.1 for the real Bolt / @slack/web-api clients: Web API methods under `/api/`
 * (form-urlencoded or JSON bodies, Bearer token), response_url endpoints for slash commands and
 * buttons, and a Socket Mode websocket. It records every call so tests assert on the wire, and can
 * fail calls on demand (rate limits with Retry-After, 5xx, Slack error codes, dropped connections).
 */

/** Who the fake workspace says the bot is, and the tokens it accepts. */
export const fakeSlackWorkspace = {
  botToken: 'xoxb-fake-0000000001-bot-token',
  appToken: 'xapp-1-A0FAKE-fake-app-token-000',
  signingSecret: 'fake-signing-secret-0123456789abcdef',
  botUserId: 'UBATON',
  botId: 'BBATON',
  teamId: 'T0FAKE',
  appId: 'A0FAKE',
} as const;

export interface SlackApiCall {
  index: number;
  method: string;
  /** The body's fields; `blocks` and `attachments` sent as JSON strings are parsed. */
  params: Record<string, unknown>;
  /** The token from `Authorization: Bearer …` or the `token` field. */
  token: string | undefined;
  contentType: string;
  at: number;
}

/** A POST to a response_url (slash commands, buttons). */
export interface ResponseUrlPost {
  id: string;
  body: Record<string, unknown>;
  at: number;
}

/** A message the fake holds, as the bot posted and last edited it. */
export interface FakeSlackMessage {
  channel: string;
  ts: string;
  threadTs: string | undefined;
  text: string;
  blocks: unknown[] | undefined;
  edits: number;
  /** A native stream (chat.startStream) not stopped yet; its text grows with each chat.appendStream. */
  streaming?: boolean;
  /** Appends a native stream received. */
  appends?: number;
}

export type SlackFailure =
  | { kind: 'ratelimited'; retryAfterSeconds: number }
  | { kind: 'http'; status: number }
  | { kind: 'error'; error: string }
  /** The connection is destroyed before any answer: a network error to the client. */
  | { kind: 'drop' }
  /**
   * The call is carried out (a message posted stays posted) but never answered: the client sees the
   * request hang, as when its process is killed between Slack accepting a call and reading the answer.
   */
  | { kind: 'unanswered' }
  /** Answers `status` with `text` (a token, say) in the error body and an `x-echo` header, as careless servers do. */
  | { kind: 'echo'; status: number; text: string };

export interface SocketEnvelope {
  envelope_id: string;
  type: 'events_api' | 'slash_commands' | 'interactive';
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
}

/** What the app sent back for an envelope. */
export interface SocketAck {
  envelope_id: string;
  payload?: Record<string, unknown>;
  /** Milliseconds from sending the envelope to the ack. */
  afterMs: number;
}

export interface FakeSlackServer {
  /** e.g. `http://127.0.0.1:41234/api/`, for SLACK_API_URL / `clientOptions.slackApiUrl`. */
  apiUrl: string;
  port: number;
  calls: SlackApiCall[];
  responses: ResponseUrlPost[];
  /** Messages by ts. */
  messages: Map<string, FakeSlackMessage>;
  callsTo(method: string): SlackApiCall[];
  /** Resolves with the first call to `method` (from `since` on) that matches. */
  waitForCall(
    method: string,
    match?: (call: SlackApiCall) => boolean,
    options?: { timeoutMs?: number; since?: number },
  ): Promise<SlackApiCall>;
  waitForResponse(match?: (post: ResponseUrlPost) => boolean, timeoutMs?: number): Promise<ResponseUrlPost>;
  /** The next `times` calls to `method` fail like this. */
  failNext(method: string, failure: SlackFailure, times?: number): void;
  setUserName(userId: string, name: string): void;
  /** A fresh response_url served by this fake. */
  newResponseUrl(): string;
  /** Socket Mode: resolves once `count` app connections said hello. */
  waitForSocket(count?: number, timeoutMs?: number): Promise<void>;
  /** Socket Mode: sends an envelope to the newest connection; resolves with its ack (3 s, as Slack waits). */
  sendEnvelope(
    type: SocketEnvelope['type'],
    payload: Record<string, unknown>,
    options?: { acceptsResponsePayload?: boolean; timeoutMs?: number },
  ): Promise<SocketAck>;
  openSockets(): number;
  /** Socket Mode: cuts every app connection without a close handshake, as a network failure does. */
  dropSockets(): void;
  close(): Promise<void>;
}

export async function startFakeSlackServer(): Promise<FakeSlackServer> {
  const calls: SlackApiCall[] = [];
  const responses: ResponseUrlPost[] = [];
  const messages = new Map<string, FakeSlackMessage>();
  const failures = new Map<string, SlackFailure[]>();
  const userNames = new Map<string, string>();
  const sockets = new Set<WebSocket>();
  const pendingAcks = new Map<string, { sentAt: number; resolve: (ack: SocketAck) => void }>();
  const listeners = new Set<() => void>();
  let helloCount = 0;
  let responseCounter = 0;
  let port = 0;

  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined) return false;
        listeners.delete(attempt);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(attempt);
        reject(new Error(`fake-slack: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      if (!attempt()) listeners.add(attempt);
    });

  // As Slack's: the time of posting in seconds and microseconds, unique and rising within the workspace.
  let lastTsMicros = 0;
  const nextTs = () => {
    lastTsMicros = Math.max(Date.now() * 1000, lastTsMicros + 1);
    return `${Math.floor(lastTsMicros / 1_000_000)}.${String(lastTsMicros % 1_000_000).padStart(6, '0')}`;
  };
  /** A message as conversations.replies shows one the bot posted. */
  const asHistoryMessage = (message: FakeSlackMessage) => ({
    type: 'message',
    user: fakeSlackWorkspace.botUserId,
    bot_id: fakeSlackWorkspace.botId,
    app_id: fakeSlackWorkspace.appId,
    text: message.text,
    ts: message.ts,
    ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
    ...(message.blocks ? { blocks: message.blocks } : {}),
    ...(message.edits > 0 ? { edited: { user: fakeSlackWorkspace.botUserId, ts: message.ts } } : {}),
  });

  const methods: Record<string, (params: Record<string, unknown>, token: string | undefined) => unknown> = {
    'auth.test': () => ({
      ok: true,
      url: 'https://fake.slack.test/',
      team: 'Fake Team',
      user: 'baton',
      team_id: fakeSlackWorkspace.teamId,
      user_id: fakeSlackWorkspace.botUserId,
      bot_id: fakeSlackWorkspace.botId,
    }),
    'apps.connections.open': () => ({
      ok: true,
      url: `ws://127.0.0.1:${port}/socket?ticket=${randomUUID()}`,
    }),
    'users.info': (params) => {
      const id = String(params.user ?? '');
      const name = userNames.get(id) ?? id;
      return {
        ok: true,
        user: { id, name: name.toLowerCase(), real_name: name, profile: { display_name: name } },
      };
    },
    'chat.postMessage': (params) => {
      const text = typeof params.text === 'string' ? params.text : '';
      if (!params.channel) return { ok: false, error: 'channel_not_found' };
      if (!text && !params.blocks) return { ok: false, error: 'no_text' };
      if (text.length > 40_000) return { ok: false, error: 'msg_too_long' };
      const ts = nextTs();
      const threadTs = typeof params.thread_ts === 'string' ? params.thread_ts : undefined;
      const message: FakeSlackMessage = {
        channel: String(params.channel),
        ts,
        threadTs,
        text,
        blocks: params.blocks as unknown[] | undefined,
        edits: 0,
      };
      messages.set(ts, message);
      return {
        ok: true,
        channel: message.channel,
        ts,
        message: { type: 'message', text, ts, thread_ts: threadTs },
      };
    },
    'chat.update': (params) => {
      const message = messages.get(String(params.ts ?? ''));
      if (!message || message.channel !== params.channel) return { ok: false, error: 'message_not_found' };
      if (message.streaming) return { ok: false, error: 'cant_update_message' };
      const text = typeof params.text === 'string' ? params.text : '';
      if (text.length > 40_000) return { ok: false, error: 'msg_too_long' };
      message.text = text;
      message.blocks = params.blocks as unknown[] | undefined;
      message.edits += 1;
      return { ok: true, channel: message.channel, ts: message.ts, text };
    },
    'chat.startStream': (params) => {
      if (!params.channel) return { ok: false, error: 'channel_not_found' };
      if (typeof params.thread_ts !== 'string') return { ok: false, error: 'invalid_arguments' };
      const text = typeof params.markdown_text === 'string' ? params.markdown_text : '';
      if (text.length > 12_000) return { ok: false, error: 'msg_too_long' };
      const ts = nextTs();
      messages.set(ts, {
        channel: String(params.channel),
        ts,
        threadTs: params.thread_ts,
        text,
        blocks: undefined,
        edits: 0,
        streaming: true,
        appends: 0,
      });
      return { ok: true, channel: params.channel, ts };
    },
    'chat.appendStream': (params) => {
      const message = messages.get(String(params.ts ?? ''));
      if (!message || message.channel !== params.channel) return { ok: false, error: 'message_not_found' };
      if (!message.streaming) return { ok: false, error: 'message_not_in_streaming_state' };
      const text = typeof params.markdown_text === 'string' ? params.markdown_text : '';
      if (text.length > 12_000) return { ok: false, error: 'msg_too_long' };
      message.text += text;
      message.appends = (message.appends ?? 0) + 1;
      return { ok: true, channel: message.channel, ts: message.ts };
    },
    'chat.stopStream': (params) => {
      const message = messages.get(String(params.ts ?? ''));
      if (!message || message.channel !== params.channel) return { ok: false, error: 'message_not_found' };
      if (!message.streaming) return { ok: false, error: 'message_not_in_streaming_state' };
      if (typeof params.markdown_text === 'string') message.text += params.markdown_text;
      message.streaming = false;
      return { ok: true, channel: message.channel, ts: message.ts, message: { text: message.text } };
    },
    'chat.delete': (params) => {
      const message = messages.get(String(params.ts ?? ''));
      if (!message || message.channel !== params.channel) return { ok: false, error: 'message_not_found' };
      messages.delete(message.ts);
      return { ok: true, channel: message.channel, ts: message.ts };
    },
    // The thread's messages oldest first, within `oldest`/`latest` (exclusive unless `inclusive`), `limit`
    // at a time with a cursor. The fake knows only what the bot posted: a thread's parent written by a
    // person (sent in as an event) is not among them.
    'conversations.replies': (params) => {
      if (!params.channel) return { ok: false, error: 'channel_not_found' };
      const threadTs = String(params.ts ?? '');
      if (!threadTs) return { ok: false, error: 'invalid_arguments' };
      const inclusive = params.inclusive === true || params.inclusive === 'true' || params.inclusive === '1';
      const oldest = microsOf(String(params.oldest ?? '0'));
      const latest = params.latest === undefined ? null : microsOf(String(params.latest));
      const within = (ts: bigint) =>
        inclusive
          ? ts >= oldest && (latest === null || ts <= latest)
          : ts > oldest && (latest === null || ts < latest);
      const thread = [...messages.values()]
        .filter(
          (message) =>
            message.channel === params.channel &&
            (message.threadTs === threadTs || message.ts === threadTs) &&
            within(microsOf(message.ts)),
        )
        .sort((first, second) => (microsOf(first.ts) < microsOf(second.ts) ? -1 : 1));
      const limit = Math.min(1000, Math.max(1, Number(params.limit ?? 1000) || 1000));
      const start = params.cursor ? Number(Buffer.from(String(params.cursor), 'base64').toString('utf8')) : 0;
      const page = thread.slice(start, start + limit);
      const hasMore = start + limit < thread.length;
      return {
        ok: true,
        messages: page.map(asHistoryMessage),
        has_more: hasMore,
        response_metadata: {
          next_cursor: hasMore ? Buffer.from(String(start + limit)).toString('base64') : '',
        },
      };
    },
    'assistant.threads.setStatus': (params) => {
      if (!params.channel_id || !params.thread_ts) return { ok: false, error: 'invalid_arguments' };
      return { ok: true };
    },
    'chat.postEphemeral': (params) => {
      if (!params.channel || !params.user) return { ok: false, error: 'user_not_in_channel' };
      return { ok: true, message_ts: nextTs() };
    },
  };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const raw = Buffer.concat(chunks).toString('utf8');
      const contentType = String(request.headers['content-type'] ?? '');
      const params = parseBody(raw, contentType);
      if (url.pathname.startsWith('/respond/')) {
        responses.push({ id: url.pathname.slice('/respond/'.length), body: params, at: Date.now() });
        changed();
        sendJson(response, 200, { ok: true });
        return;
      }
      if (!url.pathname.startsWith('/api/') || request.method !== 'POST') {
        sendJson(response, 404, { ok: false, error: 'unknown_path' });
        return;
      }
      const method = url.pathname.slice('/api/'.length);
      const bearer = /^Bearer\s+(\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
      const token = bearer ?? (typeof params.token === 'string' ? params.token : undefined);
      const { token: _token, ...fields } = params;
      calls.push({ index: calls.length, method, params: fields, token, contentType, at: Date.now() });
      changed();
      const failure = failures.get(method)?.shift();
      if (failure && failure.kind !== 'unanswered') {
        fail(request, response, failure);
        return;
      }
      const expected =
        method === 'apps.connections.open' ? fakeSlackWorkspace.appToken : fakeSlackWorkspace.botToken;
      if (token !== expected) {
        sendJson(response, 200, { ok: false, error: token ? 'invalid_auth' : 'not_authed' });
        return;
      }
      const handler = methods[method];
      const answer = handler ? handler(fields, token) : { ok: false, error: 'unknown_method' };
      changed();
      if (failure?.kind === 'unanswered') return;
      sendJson(response, 200, answer);
    });
  });

  const socketServer = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    if (!request.url?.startsWith('/socket')) {
      socket.destroy();
      return;
    }
    socketServer.handleUpgrade(request, socket, head, (connection) => {
      sockets.add(connection);
      connection.on('close', () => {
        sockets.delete(connection);
        changed();
      });
      connection.on('message', (data) => {
        const ack = parseJson(data.toString()) as { envelope_id?: string; payload?: Record<string, unknown> };
        const pending = ack?.envelope_id ? pendingAcks.get(ack.envelope_id) : undefined;
        if (!pending || !ack.envelope_id) return;
        pendingAcks.delete(ack.envelope_id);
        pending.resolve({
          envelope_id: ack.envelope_id,
          ...(ack.payload && Object.keys(ack.payload).length > 0 ? { payload: ack.payload } : {}),
          afterMs: Date.now() - pending.sentAt,
        });
      });
      connection.send(
        JSON.stringify({
          type: 'hello',
          num_connections: sockets.size,
          debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 3600 },
          connection_info: { app_id: fakeSlackWorkspace.appId },
        }),
      );
      helloCount += 1;
      changed();
    });
  });

  port = await listenOnLoopback(server);

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    port,
    calls,
    responses,
    messages,
    callsTo: (method) => calls.filter((call) => call.method === method),
    waitForCall: (method, match = () => true, { timeoutMs = 15_000, since = 0 } = {}) =>
      waitUntil(
        () => calls.find((call) => call.index >= since && call.method === method && match(call)),
        timeoutMs,
        `a ${method} call`,
      ),
    waitForResponse: (match = () => true, timeoutMs = 15_000) =>
      waitUntil(() => responses.find(match), timeoutMs, 'a response_url post'),
    failNext(method, failure, times = 1) {
      failures.set(method, [...(failures.get(method) ?? []), ...Array<SlackFailure>(times).fill(failure)]);
    },
    setUserName(userId, name) {
      userNames.set(userId, name);
    },
    newResponseUrl() {
      responseCounter += 1;
      return `http://127.0.0.1:${port}/respond/r${responseCounter}`;
    },
    async waitForSocket(count = 1, timeoutMs = 10_000) {
      await waitUntil(
        () => (helloCount >= count ? true : undefined),
        timeoutMs,
        `${count} socket connection(s)`,
      );
    },
    sendEnvelope(type, payload, { acceptsResponsePayload = type !== 'events_api', timeoutMs = 3000 } = {}) {
      const socket = [...sockets].at(-1);
      if (!socket) return Promise.reject(new Error('fake-slack: no Socket Mode connection'));
      const envelope: SocketEnvelope = {
        envelope_id: randomUUID(),
        type,
        payload,
        accepts_response_payload: acceptsResponsePayload,
      };
      return new Promise<SocketAck>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingAcks.delete(envelope.envelope_id);
          reject(new Error(`fake-slack: envelope ${type} not acknowledged within ${timeoutMs} ms`));
        }, timeoutMs);
        pendingAcks.set(envelope.envelope_id, {
          sentAt: Date.now(),
          resolve: (ack) => {
            clearTimeout(timer);
            resolve(ack);
          },
        });
        socket.send(JSON.stringify({ ...envelope, retry_attempt: 0, retry_reason: '' }));
      });
    },
    openSockets: () => sockets.size,
    dropSockets() {
      for (const socket of sockets) socket.terminate();
    },
    close() {
      for (const socket of sockets) socket.terminate();
      socketServer.close();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function fail(request: http.IncomingMessage, response: http.ServerResponse, failure: SlackFailure): void {
  switch (failure.kind) {
    case 'ratelimited':
      sendJson(
        response,
        429,
        { ok: false, error: 'ratelimited' },
        { 'retry-after': String(failure.retryAfterSeconds) },
      );
      return;
    case 'http':
      response.writeHead(failure.status, { 'content-type': 'text/plain' });
      response.end('fake-slack: injected failure');
      return;
    case 'error':
      sendJson(response, 200, { ok: false, error: failure.error });
      return;
    case 'drop':
      request.socket.destroy();
      return;
    case 'unanswered':
      return;
    case 'echo':
      sendJson(
        response,
        failure.status,
        { ok: false, error: 'invalid_auth', detail: `token rejected: ${failure.text}` },
        { 'x-echo': failure.text },
      );
      return;
  }
}

function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.includes('application/json')) {
    const parsed = parseJson(raw);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  }
  const fields: Record<string, unknown> = Object.fromEntries(new URLSearchParams(raw));
  for (const key of ['blocks', 'attachments']) {
    if (typeof fields[key] === 'string') fields[key] = parseJson(fields[key]) ?? fields[key];
  }
  return fields;
}

/** A Slack timestamp (`seconds.micros`) as whole microseconds, exactly. */
function microsOf(ts: string): bigint {
  const [seconds = '0', fraction = ''] = ts.split('.');
  if (!/^\d+$/.test(seconds) || !/^\d*$/.test(fraction)) return 0n;
  return BigInt(seconds) * 1_000_000n + BigInt(fraction.padEnd(6, '0').slice(0, 6) || '0');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function sendJson(
  response: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}
