import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleAdapter } from '../../adapters/console/console-adapter.ts';
import type { ConsoleThread, TranscriptEntry } from '../../adapters/console/console-store.ts';
import type { TaskTreeSnapshot } from '../../adapters/console/console-task-tree.ts';
import { registerSecret } from '../../src/logging/redact-secrets.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskCaller } from '../../src/tasks/task-service.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { buildTestConfig, testConfigLayer } from '../support/baton-harness.ts';
import { consoleAdapterOn } from '../support/console-adapter-on.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake, startRuntime } = useTestEnvironment();
let runtime: BatonRuntime;
let subscriber: Redis;
let adapter: ConsoleAdapter;
let url: string;
const sink = new RecordingSink();

beforeAll(async () => {
  runtime = await startRuntime(buildTestConfig(testConfigLayer(fake)));
  subscriber = createRedisConnection(redis.url, { connectionName: 'console-commands-subscriber' });
  adapter = consoleAdapterOn(runtime, subscriber, {}, { usage: runtime.usage });
  await adapter.start(sink);
  url = adapter.url!;
});

afterAll(async () => {
  await adapter?.stop();
  subscriber?.disconnect();
});

function send(method: string, path: string, body: unknown) {
  return fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function newThread(): Promise<ConsoleThread> {
  return ((await (await send('POST', '/api/threads', {})).json()) as { thread: ConsoleThread }).thread;
}

async function transcript(threadId: string) {
  return (await (await fetch(`${url}/api/threads/${threadId}/messages`)).json()) as {
    thread: ConsoleThread;
    entries: TranscriptEntry[];
  };
}

function callerIn(threadId: string): TaskCaller {
  return {
    sessionKey: `console:console:${threadId}`,
    origin: { platform: 'console', channel: 'console', thread: threadId, user: 'console', userName: 'You' },
    callerTaskId: null,
    depth: 0,
    displayName: 'You',
  };
}

describe('console: commands typed in the message box', () => {
  it('sends them to the command router (not the model), and keeps the question and the answer in the thread', async () => {
    const thread = await newThread();
    sink.answer = (command) => ({ text: `answered: ${command.text}`, ephemeral: command.text === 'tasks' });
    const response = await send('POST', `/api/threads/${thread.id}/messages`, { text: '  /tasks ' });
    expect(response.status).toBe(201);
    const body = (await response.json()) as {
      entry: TranscriptEntry;
      reply: TranscriptEntry;
      command: boolean;
    };
    expect(body.command).toBe(true);
    expect(sink.messages).toEqual([]);
    expect(sink.commands.at(-1)).toEqual({
      ref: { platform: 'console', channel: 'console', thread: thread.id },
      user: { id: 'console', name: 'You', roleIds: [], trusted: true },
      text: 'tasks',
      eventId: body.entry.id,
    });
    expect(body.reply).toMatchObject({
      role: 'bot',
      text: 'answered: tasks',
      command: true,
      ephemeral: true,
    });
    await send('POST', `/api/threads/${thread.id}/messages`, { text: 'collect t_7k2m9q' });
    const { thread: after, entries } = await transcript(thread.id);
    expect(
      entries.map((entry) => [entry.role, entry.text, entry.state ?? null, entry.ephemeral ?? false]),
    ).toEqual([
      ['user', '/tasks', 'received', false],
      ['bot', 'answered: tasks', null, true],
      ['user', 'collect t_7k2m9q', 'received', false],
      ['bot', 'answered: collect t_7k2m9q', null, false],
    ]);
    // A command does not name the thread.
    expect(after.title).toBe('New thread');
    // Words that only start like a command are a turn for the model.
    await send('POST', `/api/threads/${thread.id}/messages`, { text: 'tasks for tomorrow' });
    expect(sink.messages.map((message) => message.text)).toEqual(['tasks for tomorrow']);
  });

  it('redacts secrets in a command answer, as the outbound path does for every post', async () => {
    const thread = await newThread();
    const secret = 'console-answer-secret-0123456789';
    registerSecret(secret);
    sink.adapter = adapter;
    sink.answer = () => ({ text: `the key is ${secret}`, ephemeral: false });
    try {
      const answered = (await (
        await send('POST', `/api/threads/${thread.id}/messages`, { text: 'help' })
      ).json()) as { reply: TranscriptEntry };
      expect(answered.reply.text).toBe('the key is [redacted]');
      const { entries } = await transcript(thread.id);
      expect(entries.map((entry) => entry.text).join('\n')).not.toContain(secret);
    } finally {
      sink.adapter = null;
    }
  });

  it('posts no answer for a repeat, and marks the line failed when the gateway cannot answer', async () => {
    const thread = await newThread();
    sink.answer = () => ({ text: 'seen before', ephemeral: true, duplicate: true });
    const repeat = (await (
      await send('POST', `/api/threads/${thread.id}/messages`, { text: 'help' })
    ).json()) as {
      reply: TranscriptEntry | null;
    };
    expect(repeat.reply).toBeNull();
    sink.answer = () => {
      throw new Error('gateway down');
    };
    const failed = await send('POST', `/api/threads/${thread.id}/messages`, { text: 'help' });
    expect(failed.status).toBe(503);
    const { entries } = await transcript(thread.id);
    expect(entries.map((entry) => [entry.role, entry.state])).toEqual([
      ['user', 'received'],
      ['user', 'failed'],
    ]);
  });
});

describe('console: renaming and archiving threads', () => {
  it('renames and archives, validates the change, and new activity brings an archived thread back', async () => {
    const thread = await newThread();
    const renamed = await send('PATCH', `/api/threads/${thread.id}`, { title: '  Release checklist ' });
    expect(renamed.status).toBe(200);
    expect(((await renamed.json()) as { thread: ConsoleThread }).thread).toMatchObject({
      id: thread.id,
      title: 'Release checklist',
      archived: false,
    });
    // The first message no longer names a renamed thread.
    sink.answer = (command) => ({ text: command.text, ephemeral: false });
    await send('POST', `/api/threads/${thread.id}/messages`, { text: 'Prepare the release' });
    expect((await transcript(thread.id)).thread.title).toBe('Release checklist');

    const archived = await send('PATCH', `/api/threads/${thread.id}`, { archived: true });
    expect(((await archived.json()) as { thread: ConsoleThread }).thread.archived).toBe(true);
    const listed = (await (await fetch(`${url}/api/threads`)).json()) as { threads: ConsoleThread[] };
    expect(listed.threads.find((item) => item.id === thread.id)?.archived).toBe(true);

    for (const bad of [{}, { title: '' }, { archived: 'yes' }, { title: 'x', extra: 1 }]) {
      const response = await send('PATCH', `/api/threads/${thread.id}`, bad);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/^invalid request body/);
    }
    expect((await send('PATCH', '/api/threads/zzzzzzzz', { archived: false })).status).toBe(404);
    expect((await transcript(thread.id)).thread).toMatchObject({
      title: 'Release checklist',
      archived: true,
    });

    await adapter.send(
      { platform: 'console', channel: 'console', thread: thread.id },
      { kind: 'text', text: 'Done.' },
    );
    expect((await transcript(thread.id)).thread.archived).toBe(false);
  });
});

describe('console: the task tree', () => {
  it('lists a session’s tasks in the order they started, with activity for people, tokens, cost and a cut flag', async () => {
    const thread = await newThread();
    const caller = callerIn(thread.id);
    const [first] = await runtime.service.dispatch(caller, [{ goal: `First: ${'x'.repeat(200)}` }]);
    const [second] = await runtime.service.dispatch(caller, [{ goal: 'Second task' }]);
    const [third] = await runtime.service.dispatch(caller, [{ goal: 'Third task' }]);
    await runtime.store.claim(second!.id, 'runner-2');
    await runtime.store.appendEvent(second!.id, 'step-start', 'step 2');
    await runtime.usage.record(
      { platform: 'console', channel: 'console', user: 'console', taskId: second!.id },
      'default',
      { input: 1000, cached: 0, output: 200, cost: 0.0125, calls: 2 },
    );
    const snapshot = (await (await fetch(`${url}/api/tasks`)).json()) as TaskTreeSnapshot;
    const session = snapshot.sessions.find((item) => item.consoleThreadId === thread.id)!;
    expect(session.tasks.map((node) => node.id)).toEqual([first!.id, second!.id, third!.id]);
    const [firstNode, secondNode] = session.tasks;
    expect(firstNode!.goalCut).toBe(true);
    expect(secondNode!.goalCut).toBe(false);
    expect(secondNode!.lastEvent?.activity).toBe('step 2 started');
    expect(firstNode!.lastEvent?.activity).toBe('waiting for a worker');
    expect(secondNode!.cost).toBeCloseTo(0.0125, 6);
    expect(firstNode!.cost).toBe(0);
    expect(typeof secondNode!.tokens).toBe('number');

    const detail = (await (await fetch(`${url}/api/tasks/${second!.id}`)).json()) as {
      usage: { tokens: number; cost: number };
      events: { activity: string }[];
    };
    expect(detail.usage).toMatchObject({ tokens: 1200, cost: 0.0125 });
    expect(detail.events.map((event) => event.activity)).toEqual([
      'waiting for a worker',
      'started',
      'step 2 started',
    ]);
  });
});
