import { afterEach, describe, expect, it } from 'vitest';
import type { ChatUser, ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { resumeJobId } from '../../src/tasks/task-queue.ts';
import { QueueReconciler } from '../../src/worker/queue-reconciler.ts';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import type { RecordingAdapter } from '../fakes/recording-adapter.ts';
import {
  buildTestConfig,
  eventually,
  parentContext,
  testCaller,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { startRoutedGateway } from '../support/gateway-harness.ts';
import { goalOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 11: a child asks its person a question (ask_user), parks without holding a worker, and goes on with
 * the answer, through the real gateway, command router, delivery and worker.
 */
const { fake, redis, startRuntime } = useTestEnvironment({ clearScriptAfterEach: true });
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
});

const ada: ChatUser = { id: 'u1', name: 'Ada', roleIds: [] };
const bob: ChatUser = { id: 'bob', name: 'Bob', roleIds: [] };
const caller = testCaller('ask-thread');
const here: ConversationRef = { platform: 'test', channel: 'c1', thread: 'ask-thread' };

async function setUp(overrides: Record<string, unknown> = {}) {
  const runtime = await startRuntime(
    buildTestConfig(
      testConfigLayer(fake, {
        access: { allowed_users: ['u1', 'bob'], task_control: 'owner' },
        ...overrides,
      }),
    ),
  );
  const { gateway, adapter } = await startRoutedGateway(runtime);
  gateways.push(gateway);
  const command = (user: ChatUser, text: string) => gateway.onCommand({ ref: here, user, text });
  return { runtime, gateway, adapter, command };
}

function promptsIn(adapter: RecordingAdapter): Extract<OutboundMessage, { kind: 'prompt' }>[] {
  return adapter.posts
    .map((post) => post.message)
    .filter((message): message is Extract<OutboundMessage, { kind: 'prompt' }> => message.kind === 'prompt');
}

const askColor = toolCallReply([
  {
    name: 'ask_user',
    arguments: { question: 'Which colour should the button be?', choices: ['red', 'blue'] },
  },
]);

describe('ask_user', () => {
  it('parks the child, posts the question once, and resumes it with the owner’s answer as the tool result', async () => {
    const { runtime, adapter, command } = await setUp();
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'paint the button': (request, call) => {
          if (call === 1) return askColor;
          const results = toolResultsOf(request);
          return textReply(`painted it ${JSON.stringify(results.at(-1))}`);
        },
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'paint the button' }]);
    const id = task!.id;
    await eventually(async () =>
      (await runtime.store.get(id))?.status === 'waiting_input' ? true : undefined,
    );
    const parked = (await runtime.store.get(id))!;
    expect(parked.prompt).toMatchObject({ round: 1, kind: 'question', choices: ['red', 'blue'] });
    // Parked, not waiting: no job of the task is active; its resume job is delayed until the time-out.
    const job = await runtime.queue.queue.getJob(resumeJobId(id, 1));
    expect(await job!.getState()).toBe('delayed');
    expect(await runtime.queue.queue.getActiveCount()).toBe(0);
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(0);
    expect(await runtime.store.parkedCount(caller.sessionKey)).toBe(1);
    expect(await runtime.store.isHeldByRunner(id)).toBe(false);
    // check_task says what it waits for.
    const checkTask = runtime.parentTools().find((tool) => tool.name === 'check_task')!;
    const checked = (await checkTask.execute({ task_id: id }, parentContext(caller.sessionKey))) as Record<
      string,
      unknown
    >;
    expect(checked).toMatchObject({
      status: 'waiting_input',
      waiting_for: { question: 'Which colour should the button be?', choices: ['red', 'blue'] },
    });
    expect((checked.recent as string[]).at(-1)).toMatch(
      /prompt-asked asked: Which colour should the button be\?$/,
    );

    const prompt = await eventually(async () => promptsIn(adapter)[0]);
    expect(prompt.prompt).toMatchObject({
      kind: 'question',
      taskId: id,
      text: 'Which colour should the button be?',
      choices: ['red', 'blue'],
      ownerName: 'Ada',
    });
    expect(prompt.idempotencyKey).toBe(`prompt:${id}:1`);
    expect(prompt.fallbackText).toContain(`/baton answer ${id}`);
    expect(prompt.fallbackText).toContain('**#2** blue');

    // Bob may use Baton but may not steer Ada's task: refused privately, nothing changes.
    const refused = await command(bob, `answer ${id} #2`);
    expect(refused.ephemeral).toBe(true);
    expect(refused.text).toMatch(/Only the task's owner or an admin can steer/);
    expect((await runtime.store.get(id))!.status).toBe('waiting_input');

    const bad = await command(ada, `answer ${id} #3`);
    expect(bad).toMatchObject({ ephemeral: true, text: expect.stringMatching(/choose #1 to #2/) });

    const answered = await command(ada, `answer ${id} #2`);
    expect(answered.ephemeral).toBe(true);
    expect(answered.text).toContain('Answer recorded');
    const { records } = await runtime.service.waitForEnd([id], 20_000);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toBe('painted it {"answer":"blue","answered_by":"Ada"}');

    // The result is posted once, the prompt was posted once.
    await eventually(async () =>
      adapter.textsIn(here.thread).some((text) => text.includes(`Task ${id} completed`)) ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(adapter.textsIn(here.thread).filter((text) => text.includes(`Task ${id} completed`))).toHaveLength(
      1,
    );
    expect(promptsIn(adapter)).toHaveLength(1);
    const events = await runtime.store.recentEvents(id, 50);
    expect(events.map((event) => event.type)).toEqual(
      expect.arrayContaining(['prompt-asked', 'answer-given']),
    );
    expect(events.find((event) => event.type === 'answer-given')!.text).toBe('by Ada: blue');

    // Too late: the task is not waiting any more.
    const late = await command(ada, `answer ${id} red`);
    expect(late).toMatchObject({ ephemeral: true, text: expect.stringMatching(/not waiting for an answer/) });
    expect(fake.requests.filter((request) => goalOf(request) === 'paint the button')).toHaveLength(2);
  });

  it('answers in words, and a parked task leaves the concurrency count (max_concurrent_children)', async () => {
    const { runtime, command } = await setUp({ delegation: { max_concurrent_children: 1 } });
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'ask first': (request, call) =>
          call === 1
            ? toolCallReply([{ name: 'ask_user', arguments: { question: 'Name?' } }])
            : textReply(`answer was ${JSON.stringify(toolResultsOf(request).at(-1))}`),
        'second task': () => textReply('second done'),
      }),
    );
    const [first] = await runtime.service.dispatch(caller, [{ goal: 'ask first' }]);
    await eventually(async () =>
      (await runtime.store.get(first!.id))?.status === 'waiting_input' ? true : undefined,
    );
    // The parked task does not hold the conversation's only slot.
    const [second] = await runtime.service.dispatch(caller, [{ goal: 'second task' }]);
    expect((await runtime.service.waitForEnd([second!.id], 20_000)).records[0]!.status).toBe('completed');
    await command(ada, `answer ${first!.id} Grace Hopper`);
    const { records } = await runtime.service.waitForEnd([first!.id], 20_000);
    expect(records[0]!.summary).toBe('answer was {"answer":"Grace Hopper","answered_by":"Ada"}');
  });

  it('gives the child a tool error when nobody answers in time', async () => {
    const { runtime } = await setUp();
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'impatient ask': (request, call) =>
          call === 1
            ? toolCallReply([{ name: 'ask_user', arguments: { question: 'Quick?', timeout_s: 1 } }])
            : textReply(`got ${JSON.stringify(toolResultsOf(request).at(-1))}`),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'impatient ask' }]);
    const { records } = await runtime.service.waitForEnd([task!.id], 20_000);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toMatch(/got \{"error":"nobody answered within 1 s/);
    const events = await runtime.store.recentEvents(task!.id, 50);
    expect(events.some((event) => event.type === 'answer-given' && event.text.startsWith('no answer'))).toBe(
      true,
    );
  });

  it('cancels a parked task and removes its resume job; steering it is kept for later', async () => {
    const { runtime, command } = await setUp();
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'wait forever': () => toolCallReply([{ name: 'ask_user', arguments: { question: 'Hm?' } }]),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'wait forever' }]);
    const id = task!.id;
    await eventually(async () =>
      (await runtime.store.get(id))?.status === 'waiting_input' ? true : undefined,
    );
    await runtime.service.steer(caller, id, 'noted for later');
    const reply = await command(ada, `cancel ${id}`);
    expect(reply).toMatchObject({ ephemeral: false, text: `Cancelled ${id}.` });
    expect((await runtime.store.get(id))!.status).toBe('cancelled');
    expect(await runtime.queue.queue.getJob(resumeJobId(id, 1))).toBeUndefined();
    expect(await runtime.store.parkedCount(caller.sessionKey)).toBe(0);
    const late = await command(ada, `answer ${id} yes`);
    expect(late).toMatchObject({
      ephemeral: true,
      text: expect.stringMatching(/not waiting for an answer: it is cancelled/),
    });
  });

  it('collect waits through a parked task, up to its time-out', async () => {
    const { runtime, command } = await setUp();
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'ask then finish': (_request, call) =>
          call === 1
            ? toolCallReply([{ name: 'ask_user', arguments: { question: 'Go?' } }])
            : textReply('finished'),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'ask then finish' }]);
    const id = task!.id;
    await eventually(async () =>
      (await runtime.store.get(id))?.status === 'waiting_input' ? true : undefined,
    );
    const short = await runtime.service.collect(caller, id, 0.5);
    expect(short).toMatchObject({ timedOut: true, record: { status: 'waiting_input' } });
    const collecting = runtime.service.collect(caller, id, 20);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await command(ada, `answer ${id} go`);
    const collected = await collecting;
    expect(collected.timedOut).toBe(false);
    expect(collected.record.status).toBe('completed');
  });

  it('posts a prompt recorded while no gateway ran once a gateway starts, and a restarted gateway does not post it again', async () => {
    const runtime = await startRuntime(
      buildTestConfig(testConfigLayer(fake, { access: { allowed_users: ['u1'] } })),
    );
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'ask while offline': () =>
          toolCallReply([{ name: 'ask_user', arguments: { question: 'Still there?' } }]),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'ask while offline' }]);
    await eventually(async () =>
      (await runtime.store.get(task!.id))?.status === 'waiting_input' ? true : undefined,
    );
    const first = await startRoutedGateway(runtime);
    gateways.push(first.gateway);
    await eventually(async () => promptsIn(first.adapter)[0]);
    await first.gateway.stop();
    gateways.splice(gateways.indexOf(first.gateway), 1);
    const second = await startRoutedGateway(runtime);
    gateways.push(second.gateway);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(promptsIn(first.adapter)).toHaveLength(1);
    expect(promptsIn(second.adapter)).toHaveLength(0);
  });

  it('a resume job lost after parking is added again by the queue reconciler, still due at the time-out', async () => {
    const { runtime, command } = await setUp();
    await runtime.startWorker();
    fake.setHandler(
      scriptByGoal({
        'lose my job': (_request, call) =>
          call === 1
            ? toolCallReply([{ name: 'ask_user', arguments: { question: 'Ok?' } }])
            : textReply('went on'),
      }),
    );
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'lose my job' }]);
    const id = task!.id;
    await eventually(async () =>
      (await runtime.store.get(id))?.status === 'waiting_input' ? true : undefined,
    );
    await eventually(async () => runtime.queue.queue.getJob(resumeJobId(id, 1)));
    await runtime.queue.queue.remove(resumeJobId(id, 1));
    const reconciler = new QueueReconciler({
      store: runtime.store,
      queue: runtime.queue,
      logger: createSilentLogger(),
      minimumAgeMs: 0,
    });
    expect(await reconciler.reconcileOnce()).toEqual([id]);
    const job = await runtime.queue.queue.getJob(resumeJobId(id, 1));
    expect(await job!.getState()).toBe('delayed');
    expect(job!.delay).toBeGreaterThan(80_000_000);
    expect(await reconciler.reconcileOnce()).toEqual([]);
    await command(ada, `answer ${id} ok`);
    expect((await runtime.service.waitForEnd([id], 20_000)).records[0]!.summary).toBe('went on');
  });

  it('refuses to park beyond delegation.max_parked_per_session: the child gets a tool error', async () => {
    const { runtime } = await setUp({ delegation: { max_parked_per_session: 1 } });
    await runtime.startWorker();
    const ask = (request: Parameters<Parameters<typeof scriptByGoal>[0][string]>[0], call: number) =>
      call === 1
        ? toolCallReply([{ name: 'ask_user', arguments: { question: 'Which?' } }])
        : textReply(`after ${JSON.stringify(toolResultsOf(request).at(-1))}`);
    fake.setHandler(scriptByGoal({ 'asker one': ask }));
    const [first] = await runtime.service.dispatch(caller, [{ goal: 'asker one' }]);
    await eventually(async () =>
      (await runtime.store.get(first!.id))?.status === 'waiting_input' ? true : undefined,
    );
    fake.setHandler(scriptByGoal({ 'asker one': ask, 'asker two': ask }));
    const [second] = await runtime.service.dispatch(caller, [{ goal: 'asker two' }]);
    const { records } = await runtime.service.waitForEnd([second!.id], 20_000);
    expect(records[0]!.status).toBe('completed');
    expect(records[0]!.summary).toMatch(/max_parked_per_session: 1/);
    expect((await runtime.store.get(first!.id))!.status).toBe('waiting_input');
    expect(redis.url).toBeTruthy();
  });
});
