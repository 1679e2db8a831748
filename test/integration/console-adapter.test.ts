import http from 'node:http';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import type { TranscriptEntry } from '../../adapters/console/console-store.ts';
import type { TaskTreeNode, TaskTreeSnapshot } from '../../adapters/console/console-task-tree.ts';
import type { BatonConfig } from '../../src/config/schema.ts';
import type { ConversationRef, GatewaySink, TaskBoardView } from '../../src/gateway/chat-adapter.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { boardViewOf } from '../../src/gateway/render-board.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

interface StreamEvent {
  event: string;
  data: string;
}

/** Reads a Server-Sent Events response the way a browser would, frame by frame. */
async function openEventStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  void (async () => {
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let boundary = buffer.indexOf('\n\n');
        while (boundary !== -1) {
          const frame = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const lines = frame.split('\n').filter((line) => !line.startsWith(':'));
          const event = lines.find((line) => line.startsWith('event: '))?.slice(7);
          const data = lines
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n');
          if (event) events.push({ event, data });
          for (const wake of waiters) wake();
          boundary = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    events,
    /** Resolves with the first event (already received or to come) that matches. */
    async next<T = unknown>(
      name: string,
      matches: (data: T) => boolean = () => true,
      timeoutMs = 5_000,
    ): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const found = events.find((item) => item.event === name && matches(JSON.parse(item.data) as T));
        if (found) return JSON.parse(found.data) as T;
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw new Error(`no "${name}" event arrived in ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, remaining);
          waiters.add(wake);
        });
      }
    },
    close() {
      controller.abort();
    },
  };
}

type TranscriptEvent = { op: 'append' | 'edit'; threadId: string; entry: TranscriptEntry };

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let config: BatonConfig;
const connections: Redis[] = [];
const adapters: ConsoleAdapter[] = [];

/** A console adapter on the test runtime, not started; stopped after the test. */
function newConsole(overrides: Partial<BatonConfig['console']> = {}, maxEntriesPerThread?: number) {
  const subscriberRedis = createRedisConnection(redis.url, { connectionName: 'console-test-subscriber' });
  connections.push(subscriberRedis);
  const adapter = consoleAdapterOn(runtime, subscriberRedis, overrides, {
    modelLabel: 'test model',
    extraRoutes: (app) => app.get('/healthz', (c) => c.json({ ok: true })),
    publicRoutes: (app) => app.get('/probe', (c) => c.json({ up: true })),
    ...(maxEntriesPerThread ? { maxEntriesPerThread } : {}),
  });
  adapters.push(adapter);
  return adapter;
}

async function startConsole(
  overrides: Partial<BatonConfig['console']> = {},
  options: { sink?: GatewaySink; maxEntriesPerThread?: number } = {},
) {
  const sink = options.sink ?? new RecordingSink();
  const adapter = newConsole(overrides, options.maxEntriesPerThread);
  await adapter.start(sink);
  return { adapter, sink, url: adapter.url! };
}

function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function newThread(url: string, title?: string): Promise<{ id: string; title: string }> {
  const response = await postJson(`${url}/api/threads`, title ? { title } : {});
  expect(response.status).toBe(201);
  return ((await response.json()) as { thread: { id: string; title: string } }).thread;
}

function consoleRef(threadId: string): ConversationRef {
  return { platform: 'console', channel: 'console', thread: threadId };
}

function consoleCaller(threadId: string): TaskCaller {
  return {
    sessionKey: `console:console:${threadId}`,
    origin: { platform: 'console', channel: 'console', thread: threadId, user: 'console', userName: 'You' },
    callerTaskId: null,
    depth: 0,
    displayName: 'You',
  };
}

function findNode(snapshot: TaskTreeSnapshot, taskId: string): TaskTreeNode | undefined {
  const stack = snapshot.sessions.flatMap((session) => session.tasks);
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.id === taskId) return node;
    stack.push(...node.children);
  }
  return undefined;
}

/** A raw request, for headers fetch will not let a caller set (Host). */
function rawRequest(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

beforeAll(async () => {
  config = buildTestConfig(testConfigLayer(fake));
  runtime = await startRuntime(config);
});
afterAll(async () => {
  for (const adapter of adapters) await adapter.stop();
  for (const connection of connections) connection.disconnect();
});

describe('console adapter: threads and messages', () => {
  it('posts a message to the gateway as the trusted console user, in the thread it was typed in', async () => {
    const { url, sink } = await startConsole();
    const thread = await newThread(url);
    expect(thread.title).toBe('New thread');

    const response = await postJson(`${url}/api/threads/${thread.id}/messages`, {
      text: '  Summarise the logs  ',
    });
    expect(response.status).toBe(201);
    const reply = (await response.json()) as { entry: TranscriptEntry; queuedBehind: number };
    expect(reply.queuedBehind).toBe(0);
    expect(reply.entry).toMatchObject({ role: 'user', text: 'Summarise the logs', state: 'received' });

    const recording = sink as RecordingSink;
    expect(recording.messages).toEqual([
      {
        ref: consoleRef(thread.id),
        user: { id: 'console', name: 'You', roleIds: [], trusted: true },
        text: 'Summarise the logs',
        messageId: reply.entry.id,
        eventId: reply.entry.id,
      },
    ]);

    const transcript = (await (await fetch(`${url}/api/threads/${thread.id}/messages`)).json()) as {
      thread: { title: string };
      entries: TranscriptEntry[];
    };
    expect(transcript.entries.map((entry) => [entry.id, entry.role, entry.state])).toEqual([
      [reply.entry.id, 'user', 'received'],
    ]);
    // The first message names an untitled thread.
    expect(transcript.thread.title).toBe('Summarise the logs');
    const list = (await (await fetch(`${url}/api/threads`)).json()) as { threads: { id: string }[] };
    expect(list.threads[0]?.id).toBe(thread.id);
  });

  it('reports how many turns are ahead, and a refusal, on the entry', async () => {
    const sink = new RecordingSink();
    const { url } = await startConsole({}, { sink });
    const thread = await newThread(url, 'Busy');
    sink.queuedBehind = 2;
    const queued = (await (
      await postJson(`${url}/api/threads/${thread.id}/messages`, { text: 'next' })
    ).json()) as {
      entry: TranscriptEntry;
      queuedBehind: number;
    };
    expect(queued.queuedBehind).toBe(2);
    expect(queued.entry).toMatchObject({ state: 'queued', note: '2 ahead' });

    sink.refusal = 'you are not allowed here';
    const refused = (await (
      await postJson(`${url}/api/threads/${thread.id}/messages`, { text: 'again' })
    ).json()) as {
      entry: TranscriptEntry;
      accepted: boolean;
    };
    expect(refused.accepted).toBe(false);
    expect(refused.entry).toMatchObject({ state: 'refused', note: 'you are not allowed here' });
  });

  it('posts a message with an idempotency key once, however often (and by whichever adapter) it is sent', async () => {
    const first = await startConsole();
    const second = await startConsole();
    const thread = await newThread(first.url);
    const message = {
      kind: 'text' as const,
      text: 'chunk 1 of a result',
      idempotencyKey: 'delivery:t_abc:0',
    };
    const posted = await first.adapter.send(consoleRef(thread.id), message);
    const repeated = await second.adapter.send(consoleRef(thread.id), message);
    expect(repeated.messageId).toBe(posted.messageId);
    const { entries } = (await (await fetch(`${first.url}/api/threads/${thread.id}/messages`)).json()) as {
      entries: Array<{ text?: string }>;
    };
    expect(entries.filter((entry) => entry.text === 'chunk 1 of a result')).toHaveLength(1);
    const other = await first.adapter.send(consoleRef(thread.id), {
      ...message,
      idempotencyKey: 'delivery:t_abc:1',
    });
    expect(other.messageId).not.toBe(posted.messageId);
  });

  it('shows send and edit in the transcript and streams them, with typing, to connected browsers', async () => {
    const { url, adapter } = await startConsole();
    const thread = await newThread(url);
    const stream = await openEventStream(`${url}/api/events`);
    await stream.next('ready');
    await stream.next('tasks');

    const { messageId } = await adapter.send(consoleRef(thread.id), {
      kind: 'text',
      text: 'Working on **it**',
    });
    const appended = await stream.next<TranscriptEvent>(
      'transcript',
      (event) => event.entry.id === messageId,
    );
    expect(appended).toMatchObject({
      op: 'append',
      threadId: thread.id,
      entry: { role: 'bot', text: 'Working on **it**' },
    });

    await adapter.edit(consoleRef(thread.id), messageId, { kind: 'text', text: 'Done.' });
    const edited = await stream.next<TranscriptEvent>('transcript', (event) => event.op === 'edit');
    expect(edited.entry).toMatchObject({ id: messageId, role: 'bot', text: 'Done.', at: appended.entry.at });

    const board: TaskBoardView = boardViewOf(
      `console:console:${thread.id}`,
      [
        {
          taskId: 't_abcdef',
          parentTaskId: null,
          depth: 1,
          goal: 'scan the logs',
          status: 'running',
          elapsedSeconds: 3,
          steps: 1,
          lastActivity: 'step-start',
        },
      ],
      false,
    );
    const boardPost = await adapter.send(consoleRef(thread.id), {
      kind: 'board',
      board,
      fallbackText: 'tasks: 1 running',
    });
    const boardEvent = await stream.next<TranscriptEvent>(
      'transcript',
      (event) => event.entry.id === boardPost.messageId,
    );
    expect(boardEvent.entry).toMatchObject({ role: 'board', board, text: 'tasks: 1 running' });
    await adapter.edit(consoleRef(thread.id), boardPost.messageId, {
      kind: 'board',
      board: { ...board, settled: true },
      fallbackText: 'tasks: done',
    });

    await adapter.showTyping(consoleRef(thread.id));
    expect(await stream.next<{ threadId: string }>('typing')).toEqual({
      type: 'typing',
      threadId: thread.id,
    });

    const transcript = (await (await fetch(`${url}/api/threads/${thread.id}/messages`)).json()) as {
      entries: TranscriptEntry[];
    };
    expect(transcript.entries.map((entry) => [entry.role, entry.text])).toEqual([
      ['bot', 'Done.'],
      ['board', 'tasks: done'],
    ]);
    expect(transcript.entries[1]?.board?.settled).toBe(true);
    stream.close();
  });

  it('streams entries posted through another gateway process sharing the Redis', async () => {
    const first = await startConsole();
    const second = await startConsole();
    const thread = await newThread(first.url);
    const stream = await openEventStream(`${second.url}/api/events`);
    await stream.next('ready');
    const { messageId } = await first.adapter.send(consoleRef(thread.id), {
      kind: 'text',
      text: 'from process one',
    });
    const event = await stream.next<TranscriptEvent>('transcript', (item) => item.entry.id === messageId);
    expect(event.entry.text).toBe('from process one');
    const transcript = (await (await fetch(`${second.url}/api/threads/${thread.id}/messages`)).json()) as {
      entries: TranscriptEntry[];
    };
    expect(transcript.entries.map((entry) => entry.id)).toEqual([messageId]);
    stream.close();
  });

  it('keeps the newest entries of a long thread, and refuses to edit one that was dropped', async () => {
    const { url, adapter } = await startConsole({}, { maxEntriesPerThread: 3 });
    const thread = await newThread(url);
    const ids: string[] = [];
    for (let index = 1; index <= 5; index += 1) {
      ids.push(
        (await adapter.send(consoleRef(thread.id), { kind: 'text', text: `reply ${index}` })).messageId,
      );
    }
    const transcript = (await (await fetch(`${url}/api/threads/${thread.id}/messages`)).json()) as {
      thread: { dropped: number };
      entries: TranscriptEntry[];
    };
    expect(transcript.entries.map((entry) => entry.text)).toEqual(['reply 3', 'reply 4', 'reply 5']);
    // The thread counts what it dropped, so the page can say older messages are gone.
    expect(transcript.thread.dropped).toBe(2);
    await expect(
      adapter.edit(consoleRef(thread.id), ids[0]!, { kind: 'text', text: 'too late' }),
    ).rejects.toBeInstanceOf(PlatformSendError);
    await expect(
      adapter.send(
        { platform: 'slack', channel: 'C1', thread: '1.2' },
        { kind: 'text', text: 'wrong place' },
      ),
    ).rejects.toBeInstanceOf(PlatformSendError);
  });
});

describe('console adapter: validation', () => {
  it('answers 400 for bad bodies, 404 for unknown threads and tasks, 415 for non-JSON writes', async () => {
    const { url, sink } = await startConsole();
    const thread = await newThread(url);
    const messages = `${url}/api/threads/${thread.id}/messages`;
    const cases: [unknown, RegExp][] = [
      ['{"text": ', /not valid JSON/],
      [{}, /text/],
      [{ text: '' }, /text/],
      [{ text: '   ' }, /must not be empty/],
      [{ text: 'x'.repeat(8001) }, /text/],
      [{ text: 42 }, /text/],
      [{ text: 'hi', extra: true }, /extra/],
    ];
    for (const [body, message] of cases) {
      const response = await postJson(messages, body);
      expect(response.status, JSON.stringify(body).slice(0, 40)).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
    }
    expect((await postJson(`${url}/api/threads`, { title: 7 })).status).toBe(400);
    expect((sink as RecordingSink).messages).toEqual([]);

    expect((await fetch(`${url}/api/threads/nosuchthread/messages`)).status).toBe(404);
    expect((await postJson(`${url}/api/threads/nosuchthread/messages`, { text: 'hi' })).status).toBe(404);
    expect((await fetch(`${url}/api/threads/..%2F..%2Fetc/messages`)).status).toBe(404);
    expect((await fetch(`${url}/api/tasks/t_nosuch`)).status).toBe(404);
    expect((await postJson(`${url}/api/tasks/t_nosuch/steer`, { message: 'hi' })).status).toBe(404);
    expect((await postJson(`${url}/api/tasks/t_nosuch/cancel`, {})).status).toBe(404);
    expect((await fetch(`${url}/api/nothing-here`)).status).toBe(404);

    const plain = await fetch(messages, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{"text":"hi"}',
    });
    expect(plain.status).toBe(415);
  });
});

describe('console adapter: tasks', () => {
  it('lists a dispatched task in the tree and streams it, and its detail; steer and cancel go through the command router', async () => {
    const sink = new RecordingSink();
    const { url } = await startConsole({}, { sink });
    const thread = await newThread(url, 'Log review');
    const stream = await openEventStream(`${url}/api/events`);
    await stream.next('ready');
    // The snapshot every new connection gets; the dispatch below must arrive in a later one.
    await stream.next('tasks');
    const tasksEventsBefore = stream.events.filter((event) => event.event === 'tasks').length;

    const [task] = await runtime.service.dispatch(consoleCaller(thread.id), [
      { goal: 'read the error logs' },
    ]);
    const streamed = await stream.next<TaskTreeSnapshot>(
      'tasks',
      (snapshot) => findNode(snapshot, task!.id) !== undefined,
    );
    expect(stream.events.filter((event) => event.event === 'tasks').length).toBeGreaterThan(
      tasksEventsBefore,
    );
    const session = streamed.sessions.find((item) => item.sessionKey === `console:console:${thread.id}`);
    expect(session).toMatchObject({ consoleThreadId: thread.id, title: 'Log review', activeCount: 1 });
    expect(findNode(streamed, task!.id)).toMatchObject({
      goal: 'read the error logs',
      status: 'queued',
      steps: 0,
      origin: consoleRef(thread.id),
    });

    const tree = (await (await fetch(`${url}/api/tasks`)).json()) as TaskTreeSnapshot;
    expect(findNode(tree, task!.id)?.status).toBe('queued');
    expect(tree.activeCount).toBeGreaterThanOrEqual(1);

    const detail = (await (await fetch(`${url}/api/tasks/${task!.id}`)).json()) as {
      task: { id: string; goal: string; status: string };
      events: { type: string; line: string }[];
      summary: string | null;
    };
    expect(detail.task).toMatchObject({ id: task!.id, goal: 'read the error logs', status: 'queued' });
    expect(detail.summary).toBeNull();

    const steer = await postJson(`${url}/api/tasks/${task!.id}/steer`, { message: 'focus on timeouts' });
    expect(steer.status).toBe(200);
    expect(await steer.json()).toEqual({
      reply: `did: steer ${task!.id} focus on timeouts`,
      ephemeral: true,
    });
    const cancel = await postJson(`${url}/api/tasks/${task!.id}/cancel`, {});
    expect(((await cancel.json()) as { reply: string }).reply).toBe(`did: cancel ${task!.id}`);
    expect(sink.commands).toEqual([
      {
        ref: consoleRef(thread.id),
        user: { id: 'console', name: 'You', roleIds: [], trusted: true },
        text: `steer ${task!.id} focus on timeouts`,
      },
      {
        ref: consoleRef(thread.id),
        user: { id: 'console', name: 'You', roleIds: [], trusted: true },
        text: `cancel ${task!.id}`,
      },
    ]);
    expect((await postJson(`${url}/api/tasks/${task!.id}/steer`, { message: '' })).status).toBe(400);
    expect((await postJson(`${url}/api/tasks/${task!.id}/steer`, {})).status).toBe(400);

    // A task ending (a signal) reaches the stream as a fresh tree.
    await runtime.store.transition(task!, 'cancelled', { note: 'test' });
    const ended = await stream.next<TaskTreeSnapshot>(
      'tasks',
      (snapshot) => findNode(snapshot, task!.id)?.status === 'cancelled',
    );
    expect(findNode(ended, task!.id)?.lastActivity).toContain('status-change');
    const finished = (await (await fetch(`${url}/api/tasks/${task!.id}`)).json()) as {
      events: { type: string }[];
    };
    expect(finished.events.map((event) => event.type)).toContain('status-change');
    stream.close();
  });

  it('drops a browser that disconnects', async () => {
    const { url, adapter } = await startConsole();
    const stream = await openEventStream(`${url}/api/events`);
    await stream.next('ready');
    expect(adapter.connectedClients).toBe(1);
    stream.close();
    const deadline = Date.now() + 5_000;
    while (adapter.connectedClients > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(adapter.connectedClients).toBe(0);
  });
});

describe('console adapter: access', () => {
  const token = 'console-test-token-0123456789';

  it('requires the token on every request when one is set, by header or by the cookie the page URL sets', async () => {
    const { url } = await startConsole({ token });
    expect((await fetch(`${url}/api/threads`)).status).toBe(401);
    expect((await fetch(`${url}/`)).status).toBe(401);
    expect((await fetch(`${url}/healthz`)).status).toBe(401);
    // Public routes (a health probe) answer without it.
    expect(await (await fetch(`${url}/probe`)).json()).toEqual({ up: true });
    expect((await fetch(`${url}/api/events`)).status).toBe(401);
    expect(
      (await fetch(`${url}/api/threads`, { headers: { authorization: 'Bearer wrong-token-000000000' } }))
        .status,
    ).toBe(401);
    expect((await fetch(`${url}/?token=wrong-token-000000000`, { redirect: 'manual' })).status).toBe(401);

    const withHeader = await fetch(`${url}/api/threads`, { headers: { authorization: `Bearer ${token}` } });
    expect(withHeader.status).toBe(200);

    const entry = await fetch(`${url}/?token=${token}`, { redirect: 'manual' });
    expect(entry.status).toBe(303);
    expect(entry.headers.get('location')).toBe('/');
    const setCookie = entry.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).not.toContain(token);
    const cookie = setCookie.split(';')[0]!;
    expect((await fetch(`${url}/`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${url}/api/threads`, { headers: { cookie } })).status).toBe(200);
    expect((await postJson(`${url}/api/threads`, {}, { cookie })).status).toBe(201);
    expect((await fetch(`${url}/healthz`, { headers: { cookie } })).status).toBe(200);
  });

  it('refuses a non-loopback bind without a token', async () => {
    const adapter = newConsole({ host: '0.0.0.0', token: null });
    await expect(adapter.start(new RecordingSink())).rejects.toThrow(/loopback/);
    expect(adapter.isHealthy()).toBe(false);
  });

  it('without a token, answers only loopback Host names and same-origin writes', async () => {
    const { url } = await startConsole();
    const port = new URL(url).port;
    expect(await rawRequest(`${url}/api/threads`, { host: `localhost:${port}` })).toBe(200);
    expect(await rawRequest(`${url}/api/threads`, { host: `attacker.example:${port}` })).toBe(403);
    const crossSite = await postJson(`${url}/api/threads`, {}, { origin: 'http://attacker.example' });
    expect(crossSite.status).toBe(403);
    expect((await postJson(`${url}/api/threads`, {}, { origin: url })).status).toBe(201);
  });

  it('serves the page with a strict content security policy, mounts extra routes, and reports health', async () => {
    const { url, adapter } = await startConsole();
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('data-testid="composer-input"');
    expect((await fetch(`${url}/app.js`)).headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${url}/not-a-file.js`)).status).toBe(404);
    expect(await (await fetch(`${url}/api/info`)).json()).toMatchObject({ modelLabel: 'test model' });
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
    expect(adapter.isHealthy()).toBe(true);
    await adapter.stop();
    expect(adapter.isHealthy()).toBe(false);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
