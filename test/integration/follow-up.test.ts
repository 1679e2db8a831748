import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/errors.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { QueueReconciler } from '../../src/worker/queue-reconciler.ts';
import { hangReply, textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { eventually, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { resultPosts, useTestGateways } from '../support/gateway-harness.ts';
import { goalOf, messagesOf, scriptByGoal, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
const { newRuntime, newGateway } = useTestGateways({ redis, fake });

const contentsOf = (request: Parameters<typeof messagesOf>[0]) =>
  messagesOf(request).map((message) => `${message.role}: ${String(message.content ?? '')}`);

describe('a follow-up to a completed task', () => {
  it('reopens it: the child goes on from its own conversation and a second result is posted, each once', async () => {
    const runtime = await newRuntime();
    const started = await newGateway(runtime);
    const { adapter } = started;
    fake.setHandler(
      scriptByGoal({
        'audit the logs': (_request, call) => {
          if (call === 1) return toolCallReply([{ name: 'missing_tool', arguments: { path: '/var/log' } }]);
          if (call === 2) return textReply('First pass: the logs are clean.');
          return textReply('Second pass: X checked as well, also clean.');
        },
      }),
    );
    const caller = testCaller('follow-up');
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'audit the logs' }]);
    await eventually(async () => (resultPosts(adapter, 'follow-up').length === 1 ? true : undefined), 15_000);
    // The first round's board has settled (the task shown completed) before the follow-up comes.
    const boardRows = () =>
      [...adapter.posts, ...adapter.edits]
        .map((post) => post.message)
        .flatMap((message) => (message.kind === 'board' ? message.board.rows : []))
        .filter((row) => row.taskId === task!.id);
    await eventually(
      async () => (boardRows().some((row) => row.status === 'completed') ? true : undefined),
      15_000,
      'the settled board',
    );
    // A board opened by the follow-up counts from a second before it: the task must be older than that.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const steered = await runtime.service.steer(caller, task!.id, 'also check X');
    expect(steered).toMatchObject({ reopened: true, round: 2 });
    await eventually(async () => (resultPosts(adapter, 'follow-up').length === 2 ? true : undefined), 15_000);

    const childRequests = fake.requests.filter((request) => goalOf(request) === 'audit the logs');
    expect(childRequests).toHaveLength(3);
    // The third request carries the whole earlier conversation: the tool call and its result, the first
    // answer, then the follow-up naming who sent it.
    const third = contentsOf(childRequests[2]!);
    expect(third.slice(0, contentsOf(childRequests[1]!).length)).toEqual(contentsOf(childRequests[1]!));
    expect(third.at(-2)).toBe('assistant: First pass: the logs are clean.');
    expect(third.at(-1)).toMatch(/^user: .*Ada.*also check X/s);

    const [first, second] = resultPosts(adapter, 'follow-up');
    expect(first).toContain(`✅ **Task ${task!.id} completed**`);
    expect(first).toContain('First pass: the logs are clean.');
    expect(second).toContain(`✅ **Task ${task!.id} completed**`);
    expect(second).toContain('round 2');
    expect(second).toContain('Second pass: X checked as well');
    const record = await runtime.store.get(task!.id);
    expect(record).toMatchObject({
      status: 'completed',
      followUpRound: 2,
      summary: expect.stringContaining('Second'),
    });
    const history = await started.gateway.history.load(caller.sessionKey);
    expect(history.map((message) => message.content)).toEqual([
      expect.stringContaining(`[Background task ${task!.id} completed]`),
      expect.stringContaining(`[Background task ${task!.id} completed (round 2)]`),
    ]);
    // Nothing more arrives: each round's result was posted once.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(resultPosts(adapter, 'follow-up')).toHaveLength(2);
    const { record: collected } = await runtime.service.collect(caller, task!.id, 1);
    expect(collected.summary).toContain('Second pass');
    // A board showed the second round, though the first round's board had settled.
    await eventually(
      async () => (boardRows().some((row) => row.round === 2) ? true : undefined),
      15_000,
      'the second round on a board',
    );
  });

  it('refuses a cancelled task, clearly, and changes nothing', async () => {
    const runtime = await newRuntime();
    fake.setHandler(scriptByGoal({ 'wait forever': () => hangReply() }));
    const caller = testCaller('no-reopen');
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'wait forever' }]);
    await eventually(async () =>
      fake.requests.some((request) => goalOf(request) === 'wait forever') ? true : undefined,
    );
    await runtime.service.cancel(caller, task!.id);
    const refusal = await runtime.service
      .steer(caller, task!.id, 'try again')
      .catch((error: unknown) => error);
    expect(isBatonError(refusal, 'task_not_steerable')).toBe(true);
    expect((refusal as Error).message).toMatch(/is cancelled; .*completed ones reopened/);
    const record = await runtime.store.get(task!.id);
    expect(record?.status).toBe('cancelled');
    expect(record?.followUpRound).toBeUndefined();
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(0);
  });

  it('queues one round when two follow-ups race; the second joins it as a steer', async () => {
    const runtime = await newRuntime();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.setHandler(
      scriptByGoal({
        'count things': async (_request, call) => {
          if (call === 1) return textReply('three things');
          await held;
          return textReply('four things');
        },
      }),
    );
    const caller = testCaller('race');
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'count things' }]);
    await runtime.service.waitForEnd([task!.id], 10_000);
    const outcomes = await Promise.all([
      runtime.service.steer(caller, task!.id, 'count again'),
      runtime.service.steer(caller, task!.id, 'and the fourth'),
    ]);
    expect(outcomes.filter((outcome) => outcome.reopened)).toHaveLength(1);
    expect((await runtime.store.get(task!.id))?.followUpRound).toBe(2);
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(1);
    release();
    const waited = await runtime.service.waitForEnd([task!.id], 10_000);
    expect(waited.records[0]).toMatchObject({
      status: 'completed',
      followUpRound: 2,
      summary: 'four things',
    });
    const jobs = await runtime.queue.queue.getJobs(['completed', 'waiting', 'active', 'delayed']);
    expect(
      jobs
        .map((job) => job.id)
        .filter((id) => id?.startsWith(task!.id))
        .sort(),
    ).toEqual([task!.id, `${task!.id}-f2`]);
    // Both follow-ups reached the second round's conversation.
    const last = fake.requests.filter((request) => goalOf(request) === 'count things').at(-1)!;
    const text = contentsOf(last).join('\n');
    expect(text).toContain('count again');
    expect(text).toContain('and the fourth');
  });

  it('reopens a task that once waited for an answer: the new round runs on its own job, once', async () => {
    const runtime = await newRuntime();
    fake.setHandler(
      scriptByGoal({
        'pick a colour': (request, call) => {
          if (call === 1) {
            return toolCallReply([
              { name: 'ask_user', arguments: { question: 'Which?', choices: ['red', 'blue'] } },
            ]);
          }
          if (call === 2) return textReply(`first: ${JSON.stringify(toolResultsOf(request).at(-1))}`);
          return textReply('second: green as well');
        },
      }),
    );
    const caller = testCaller('asked-then-reopened');
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'pick a colour' }]);
    await eventually(async () =>
      (await runtime.store.get(task!.id))?.status === 'waiting_input' ? true : undefined,
    );
    await runtime.service.answer(caller, task!.id, '#2');
    const first = await runtime.service.waitForEnd([task!.id], 15_000);
    expect(first.records[0]).toMatchObject({ status: 'completed', summary: expect.stringContaining('blue') });

    const steered = await runtime.service.steer(caller, task!.id, 'and green?');
    expect(steered.reopened).toBe(true);
    const job = await runtime.queue.queue.getJob(`${task!.id}-f2`);
    expect(job?.data).toEqual({ taskId: task!.id, round: 1 });
    const second = await runtime.service.waitForEnd([task!.id], 15_000);
    expect(second.records[0]).toMatchObject({
      status: 'completed',
      followUpRound: 2,
      summary: 'second: green as well',
    });
    const requests = fake.requests.filter((request) => goalOf(request) === 'pick a colour');
    expect(requests).toHaveLength(3);
    const last = contentsOf(requests[2]!);
    expect(last.at(-2)).toMatch(/^assistant: first: .*blue/);
    expect(last.at(-1)).toMatch(/and green\?/);
  });

  it('a reopened round whose job was lost is queued again; cancelled while queued, it loses its job', async () => {
    const runtime = await newRuntime(testConfigLayer(fake), false);
    fake.setHandler(scriptByGoal({ 'quick one': () => textReply('done') }));
    const caller = testCaller('cancel-reopened');
    const worker = await runtime.startWorker();
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'quick one' }]);
    await runtime.service.waitForEnd([task!.id], 10_000);
    // No worker takes the reopened round: it stays queued until cancelled.
    await worker.close();
    await runtime.service.steer(caller, task!.id, 'once more');
    expect(await runtime.queue.queue.getJob(`${task!.id}-f2`)).toBeDefined();
    // A round whose job was lost (a dispatcher died between the reopen and the enqueue) is queued again.
    await runtime.queue.queue.remove(`${task!.id}-f2`);
    const reconciler = new QueueReconciler({
      store: runtime.store,
      queue: runtime.queue,
      logger: createSilentLogger(),
      minimumAgeMs: 0,
    });
    expect(await reconciler.reconcileOnce()).toEqual([task!.id]);
    expect((await runtime.queue.queue.getJob(`${task!.id}-f2`))?.data).toEqual({ taskId: task!.id });
    expect(await reconciler.reconcileOnce()).toEqual([]);
    const { record } = await runtime.service.cancel(caller, task!.id);
    expect(record.status).toBe('cancelled');
    expect(await runtime.queue.queue.getJob(`${task!.id}-f2`)).toBeUndefined();
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(0);
  });

  it('is refused over the conversation’s limit of active tasks, and the task stays completed', async () => {
    const runtime = await newRuntime(testConfigLayer(fake, { delegation: { max_concurrent_children: 1 } }));
    fake.setHandler(
      scriptByGoal({ 'done soon': () => textReply('done'), 'busy for long': () => hangReply() }),
    );
    const caller = testCaller('reopen-over-limit');
    const [done] = await runtime.service.dispatch(caller, [{ goal: 'done soon' }]);
    await runtime.service.waitForEnd([done!.id], 10_000);
    const [busy] = await runtime.service.dispatch(caller, [{ goal: 'busy for long' }]);
    const refusal = await runtime.service.steer(caller, done!.id, 'again').catch((error: unknown) => error);
    expect(isBatonError(refusal, 'limit_concurrent_children')).toBe(true);
    expect((refusal as Error).message).toContain(`${done!.id} cannot be reopened now`);
    expect(await runtime.store.get(done!.id)).toMatchObject({ status: 'completed' });
    expect((await runtime.store.get(done!.id))?.followUpRound).toBeUndefined();
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(1);
    await runtime.service.cancel(caller, busy!.id);
  });

  it('is refused over the person’s quota of active tasks across conversations, and the task stays completed', async () => {
    const runtime = await newRuntime(testConfigLayer(fake, { quotas: { max_active_tasks_per_user: 1 } }));
    fake.setHandler(
      scriptByGoal({ 'done soon': () => textReply('done'), 'busy elsewhere': () => hangReply() }),
    );
    const here = testCaller('reopen-over-quota');
    const [done] = await runtime.service.dispatch(here, [{ goal: 'done soon' }]);
    await runtime.service.waitForEnd([done!.id], 10_000);
    // The same person, in another conversation: the quota counts both.
    const elsewhere = testCaller('reopen-over-quota-elsewhere');
    const [busy] = await runtime.service.dispatch(elsewhere, [{ goal: 'busy elsewhere' }]);
    const refusal = await runtime.service.steer(here, done!.id, 'again').catch((error: unknown) => error);
    expect(isBatonError(refusal, 'limit_quota')).toBe(true);
    expect((refusal as Error).message).toContain('quotas.max_active_tasks_per_user');
    expect(await runtime.store.get(done!.id)).toMatchObject({ status: 'completed' });
    expect(await runtime.store.activeCount(here.sessionKey)).toBe(0);
    await runtime.service.cancel(elsewhere, busy!.id);
  });

  it('is refused once the owner’s daily budget is spent, and the task stays completed', async () => {
    const runtime = await newRuntime(testConfigLayer(fake, { quotas: { daily_tokens_per_user: 1000 } }));
    fake.setHandler(
      scriptByGoal({
        'costly answer': () =>
          textReply('expensive', { usage: { prompt_tokens: 900, cached_tokens: 0, completion_tokens: 200 } }),
      }),
    );
    const caller = testCaller('reopen-over-budget');
    const [task] = await runtime.service.dispatch(caller, [{ goal: 'costly answer' }]);
    const { records } = await runtime.service.waitForEnd([task!.id], 10_000);
    expect(records[0]?.status).toBe('completed');
    const refusal = await runtime.service.steer(caller, task!.id, 'more').catch((error: unknown) => error);
    expect(isBatonError(refusal, 'budget_exhausted')).toBe(true);
    expect(await runtime.store.get(task!.id)).toMatchObject({ status: 'completed' });
    expect(await runtime.store.activeCount(caller.sessionKey)).toBe(0);
  });
});
