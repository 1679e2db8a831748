import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { ChatUser, ConversationRef, GatewaySink } from '../../src/gateway/chat-adapter.ts';
import type { ConsoleReads } from '../../src/gateway/console-reads.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { toWellFormed } from '../../src/well-formed-text.ts';
import { consoleDiffRoute } from './console-diff-route.ts';
import type { ConsoleLiveEvents } from './console-live-events.ts';
import { consoleSecurity } from './console-security.ts';
import type { StaticFile } from './console-static-files.ts';
import type { ConsoleStore, ConsoleThread } from './console-store.ts';
import type { TaskTreeReader } from './console-task-tree.ts';
import { consoleUsageRoute } from './console-usage-route.ts';

/** The person at the local console: trusted by construction, since only loopback (or token holders) can reach it. */
export const consoleUser: ChatUser = { id: 'console', name: 'You', roleIds: [], trusted: true };

/** Longest message a person may send from the page, in characters. */
export const maxConsoleInputChars = 8000;

const newThreadBody = z.strictObject({
  title: z.string().trim().min(1).max(120).transform(toWellFormed).optional(),
});
const threadChangeBody = z
  .strictObject({
    title: z.string().trim().min(1).max(120).transform(toWellFormed).optional(),
    archived: z.boolean().optional(),
  })
  .refine((change) => change.title !== undefined || change.archived !== undefined, {
    message: 'give a title, archived, or both',
  });
const newMessageBody = z.strictObject({
  text: z
    .string()
    .max(maxConsoleInputChars)
    .transform((text) => toWellFormed(text.trim()))
    .pipe(z.string().min(1, 'text must not be empty')),
});
const steerBody = z.strictObject({
  message: z
    .string()
    .max(4000)
    .transform((text) => toWellFormed(text.trim()))
    .pipe(z.string().min(1, 'message must not be empty')),
});
const cancelBody = z.strictObject({});
const answerBody = z.strictObject({
  /** Words, or `#2` for a question's second choice (what its button sends). */
  text: z
    .string()
    .max(4000)
    .transform((text) => toWellFormed(text.trim()))
    .pipe(z.string().min(1, 'text must not be empty')),
});
const denyBody = z.strictObject({
  reason: z
    .string()
    .max(1000)
    .transform((text) => toWellFormed(text.trim()))
    .optional(),
});

export interface ConsoleRoutesOptions {
  consoleStore: ConsoleStore;
  /** Tasks, usage and workspace diffs, through the console's read port. */
  reads: ConsoleReads;
  taskTree: TaskTreeReader;
  live: ConsoleLiveEvents;
  /** The gateway, once the adapter has started. */
  sink: () => GatewaySink;
  logger: Logger;
  token: string | null;
  bindHost: string;
  staticFiles: ReadonlyMap<string, StaticFile>;
  modelLabel: string | null;
  extraRoutes?: (app: Hono) => void;
  /** Routes answered before the token and Host checks (a health probe); they must reveal nothing private. */
  publicRoutes?: (app: Hono) => void;
  /** Whether Redis answers right now (the runtime's RedisAvailability); default always up. */
  redisState?: () => 'up' | 'down';
}

type ParsedBody<T> = { ok: true; value: T } | { ok: false; response: Response };

/** Reads and validates a JSON body; an empty body counts as `{}`. */
async function readBody<T>(c: Context, schema: z.ZodType<T>): Promise<ParsedBody<T>> {
  const raw = await c.req.text();
  let json: unknown = {};
  if (raw.trim() !== '') {
    try {
      json = JSON.parse(raw);
    } catch {
      return { ok: false, response: c.json({ error: 'the body is not valid JSON' }, 400) };
    }
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.join('.') || '(body)',
    message: issue.message,
  }));
  const error = `invalid request body: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`;
  return { ok: false, response: c.json({ error, issues }, 400) };
}

function threadRef(thread: ConsoleThread): ConversationRef {
  return { platform: 'console', channel: 'console', thread: thread.id };
}

/** The console's HTTP surface: the page, the JSON API and the event stream. */
export function createConsoleApp(options: ConsoleRoutesOptions): Hono {
  const { consoleStore, reads } = options;
  const app = new Hono();
  options.publicRoutes?.(app);
  app.use('*', consoleSecurity({ token: options.token, bindHost: options.bindHost }));
  app.use(
    '/api/*',
    bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: 'the body is too large' }, 413) }),
  );
  options.extraRoutes?.(app);
  consoleUsageRoute(reads)(app);
  consoleDiffRoute(reads)(app);

  app.get('/api/info', (c) =>
    c.json({ platform: 'console', modelLabel: options.modelLabel, maxInputChars: maxConsoleInputChars }),
  );

  // From memory, never Redis: it must answer while Redis is away (the page's banner reads it).
  app.get('/api/status', (c) => c.json({ redis: options.redisState?.() ?? 'up' }));

  app.get('/api/threads', async (c) => c.json({ threads: await consoleStore.listThreads() }));

  app.post('/api/threads', async (c) => {
    const body = await readBody(c, newThreadBody);
    if (!body.ok) return body.response;
    return c.json({ thread: await consoleStore.createThread(body.value.title) }, 201);
  });

  app.patch('/api/threads/:id', async (c) => {
    if (!(await consoleStore.getThread(c.req.param('id')))) return c.json({ error: 'no such thread' }, 404);
    const body = await readBody(c, threadChangeBody);
    if (!body.ok) return body.response;
    const id = c.req.param('id');
    const { title, archived } = body.value;
    let thread = title === undefined ? null : await consoleStore.renameThread(id, title);
    if (archived !== undefined) thread = await consoleStore.setArchived(id, archived);
    if (!thread) return c.json({ error: 'no such thread' }, 404);
    return c.json({ thread });
  });

  app.get('/api/threads/:id/messages', async (c) => {
    const thread = await consoleStore.getThread(c.req.param('id'));
    if (!thread) return c.json({ error: 'no such thread' }, 404);
    return c.json({ thread, entries: await consoleStore.entries(thread.id) });
  });

  app.post('/api/threads/:id/messages', async (c) => {
    const thread = await consoleStore.getThread(c.req.param('id'));
    if (!thread) return c.json({ error: 'no such thread' }, 404);
    const body = await readBody(c, newMessageBody);
    if (!body.ok) return body.response;
    const commandText = options.sink().commandTextOf(body.value.text, { slashWords: true });
    if (commandText !== null) return answerCommand(c, thread, body.value.text, commandText);
    const posted = await consoleStore.append(thread.id, {
      role: 'user',
      text: body.value.text,
      state: 'sending',
    });
    let outcome: Awaited<ReturnType<GatewaySink['onMessage']>>;
    try {
      outcome = await options.sink().onMessage({
        ref: threadRef(thread),
        user: consoleUser,
        text: body.value.text,
        messageId: posted.id,
        eventId: posted.id,
      });
    } catch (error) {
      options.logger.error({ err: error, thread: thread.id }, 'the gateway did not take a console message');
      await consoleStore.replace(thread.id, posted.id, { state: 'failed', note: 'not delivered; try again' });
      return c.json({ error: 'the gateway could not take the message; try again' }, 503);
    }
    const change = !outcome.accepted
      ? { state: 'refused' as const, note: outcome.refusal ?? 'refused' }
      : outcome.queuedBehind > 0
        ? { state: 'queued' as const, note: `${outcome.queuedBehind} ahead` }
        : { state: 'received' as const, note: undefined };
    const entry = (await consoleStore.replace(thread.id, posted.id, change)) ?? { ...posted, ...change };
    return c.json(
      {
        entry,
        accepted: outcome.accepted,
        queuedBehind: outcome.queuedBehind,
        ...(outcome.refusal ? { refusal: outcome.refusal } : {}),
      },
      201,
    );
  });

  /**
   * `tasks`, `/status t_…`, `help`…: typed in the message box, answered by the gateway's command router
   * (as in Slack and Discord) and shown in the thread, without a model call.
   */
  async function answerCommand(
    c: Context,
    thread: ConsoleThread,
    typed: string,
    commandText: string,
  ): Promise<Response> {
    const posted = await consoleStore.append(thread.id, {
      role: 'user',
      text: typed,
      state: 'sending',
      command: true,
    });
    let reply: Awaited<ReturnType<GatewaySink['onCommand']>>;
    try {
      reply = await options.sink().onCommand({
        ref: threadRef(thread),
        user: consoleUser,
        text: commandText,
        eventId: posted.id,
      });
    } catch (error) {
      options.logger.error({ err: error, thread: thread.id }, 'the gateway did not answer a console command');
      await consoleStore.replace(thread.id, posted.id, { state: 'failed', note: 'not answered; try again' });
      return c.json({ error: 'the gateway could not answer the command; try again' }, 503);
    }
    const entry = (await consoleStore.replace(thread.id, posted.id, { state: 'received' })) ?? posted;
    // The answer is this request's own response and the transcript's entry for it (marked as a command's,
    // and as only-you when private), so the adapter appends it; its text is redacted like every post.
    const answer = reply.duplicate
      ? null
      : await consoleStore.append(thread.id, {
          role: 'bot',
          text: options.sink().chunksFor(threadRef(thread), reply.text).join('\n'),
          command: true,
          ...(reply.ephemeral ? { ephemeral: true } : {}),
        });
    return c.json({ entry, accepted: true, queuedBehind: 0, command: true, reply: answer }, 201);
  }

  app.get('/api/tasks', async (c) => c.json(await options.taskTree.snapshot()));

  app.get('/api/tasks/:id', async (c) => {
    const detail = await reads.taskDetail(c.req.param('id'));
    if (!detail) return c.json({ error: 'no such task' }, 404);
    return c.json(detail);
  });

  /**
   * Steer, cancel, merge, answer, approve and deny go through the gateway's command router, like the same
   * words typed in a chat.
   */
  async function runTaskCommand(c: Context, taskId: string, text: string): Promise<Response> {
    const ref = await reads.taskOrigin(taskId);
    if (!ref) return c.json({ error: 'no such task' }, 404);
    const reply = await options.sink().onCommand({ ref, user: consoleUser, text });
    return c.json({ reply: reply.text, ephemeral: reply.ephemeral });
  }

  app.post('/api/tasks/:id/steer', async (c) => {
    const body = await readBody(c, steerBody);
    if (!body.ok) return body.response;
    const taskId = c.req.param('id');
    return runTaskCommand(c, taskId, `steer ${taskId} ${body.value.message}`);
  });

  app.post('/api/tasks/:id/cancel', async (c) => {
    const body = await readBody(c, cancelBody);
    if (!body.ok) return body.response;
    const taskId = c.req.param('id');
    return runTaskCommand(c, taskId, `cancel ${taskId}`);
  });

  // A child's question and approval request: the prompt's buttons and the task panel post here.
  app.post('/api/tasks/:id/answer', async (c) => {
    const body = await readBody(c, answerBody);
    if (!body.ok) return body.response;
    const taskId = c.req.param('id');
    return runTaskCommand(c, taskId, `answer ${taskId} ${body.value.text}`);
  });

  app.post('/api/tasks/:id/approve', async (c) => {
    const body = await readBody(c, cancelBody);
    if (!body.ok) return body.response;
    const taskId = c.req.param('id');
    return runTaskCommand(c, taskId, `approve ${taskId}`);
  });

  app.post('/api/tasks/:id/deny', async (c) => {
    const body = await readBody(c, denyBody);
    if (!body.ok) return body.response;
    const taskId = c.req.param('id');
    const reason = body.value.reason ? ` ${body.value.reason}` : '';
    return runTaskCommand(c, taskId, `deny ${taskId}${reason}`);
  });

  app.post('/api/tasks/:id/merge', async (c) => {
    const body = await readBody(c, cancelBody);
    if (!body.ok) return body.response;
    const taskId = c.req.param('id');
    return runTaskCommand(c, taskId, `merge ${taskId}`);
  });

  app.get('/api/events', (c) => streamSSE(c, (stream) => options.live.serve(stream, c.req.raw.signal)));

  app.get('/', (c) => serveStatic(c, options.staticFiles.get('index.html')));
  app.get('/:file{[a-z0-9-]+\\.(?:js|css|svg|html)}', (c) =>
    serveStatic(c, options.staticFiles.get(c.req.param('file'))),
  );

  app.notFound((c) =>
    c.req.path.startsWith('/api/') ? c.json({ error: 'not found' }, 404) : c.text('not found', 404),
  );
  app.onError((error, c) => {
    options.logger.error({ err: error, path: c.req.path }, 'console request failed');
    return c.req.path.startsWith('/api/')
      ? c.json({ error: 'internal error' }, 500)
      : c.text('internal error', 500);
  });
  return app;
}

function serveStatic(c: Context, file: StaticFile | undefined): Response {
  if (!file) return c.text('not found', 404);
  c.header('Content-Type', file.contentType);
  c.header('Cache-Control', 'no-cache');
  return c.body(file.body);
}
