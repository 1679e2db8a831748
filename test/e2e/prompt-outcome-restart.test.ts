import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockActions, eventCallback, mentionEvent } from '../fakes/fake-slack-payloads.ts';
import { type FakeSlackServer, type SlackApiCall, startFakeSlackServer } from '../fakes/fake-slack-server.ts';
import { eventually, testConfigLayer } from '../support/baton-harness.ts';
import { childAsksThenFinishes } from '../support/model-scripts.ts';
import { useSlackBatonProcesses } from '../support/slack-baton-processes.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * A settled prompt's edit survives its gateway: a real `baton gateway` process records Ada's button press,
 * Slack rate-limits the edit of the question, the gateway is SIGKILLed while it waits to retry, and the
 * next gateway makes the edit, once: the question shows who answered, without buttons.
 */

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
let slack: FakeSlackServer;
const spawn = useSlackBatonProcesses({ redisUrl: () => redis.url, slack: () => slack });
const ada = 'UADA';

beforeAll(async () => {
  slack = await startFakeSlackServer();
  slack.setUserName(ada, 'Ada');
});
afterAll(async () => {
  await slack.close();
});

const goal = 'Paint the deploy button';

function script(): void {
  fake.setHandler(childAsksThenFinishes(goal, { question: 'Which colour?', choices: ['red', 'blue'] }));
}

describe('a settled prompt across a gateway restart', () => {
  it('a gateway SIGKILLed while its edit waits out a rate limit: the next one edits the question once', async () => {
    script();
    const layer = testConfigLayer(fake, { console: { enabled: false }, access: { allowed_users: [ada] } });
    await spawn('worker', layer);
    const first = await spawn('gateway', layer);

    const event = mentionEvent({ user: ada, text: 'paint the deploy button' });
    const thread = String(event.ts);
    await slack.sendEnvelope('events_api', eventCallback(event));
    const isQuestion = (call: SlackApiCall) =>
      call.params.thread_ts === thread && JSON.stringify(call.params.blocks ?? []).includes('baton_prompt_');
    await slack.waitForCall('chat.postMessage', isQuestion, { timeoutMs: 30_000 });
    const question = [...slack.messages.values()].find(
      (message) =>
        message.threadTs === thread && JSON.stringify(message.blocks ?? []).includes('baton_prompt_'),
    )!;
    const taskId = /answer (t_\w+) #1/.exec(JSON.stringify(question.blocks))![1]!;

    // Slack rate-limits the first edit for 20 s: the gateway waits to retry it, holding the job.
    slack.failNext('chat.update', { kind: 'ratelimited', retryAfterSeconds: 20 });
    await slack.sendEnvelope(
      'interactive',
      blockActions({
        user: ada,
        messageTs: question.ts,
        threadTs: thread,
        actionId: 'baton_prompt_2',
        value: `answer ${taskId} #2`,
        responseUrl: slack.newResponseUrl(),
      }),
    );
    const isEdit = (call: SlackApiCall) => call.method === 'chat.update' && call.params.ts === question.ts;
    await slack.waitForCall('chat.update', isEdit, { timeoutMs: 30_000 });
    first.child.kill('SIGKILL');
    await first.exited;
    expect(JSON.stringify(slack.messages.get(question.ts)?.blocks)).toContain('baton_prompt_');

    // The next gateway takes the stalled job over and makes the edit.
    await spawn('gateway', layer);
    await eventually(
      async () => (slack.calls.filter(isEdit).length >= 2 ? true : undefined),
      40_000,
      'the edit by the second gateway',
    );
    await eventually(
      async () =>
        slack
          .callsTo('chat.postMessage')
          .some((call) => call.params.thread_ts === thread && String(call.params.text).includes('completed'))
          ? true
          : undefined,
      30_000,
      'the result',
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Two calls: the rate-limited one, and the edit that went through; nothing more.
    expect(slack.calls.filter(isEdit)).toHaveLength(2);
    const blocks = JSON.stringify(slack.messages.get(question.ts)?.blocks);
    expect(blocks).not.toContain('baton_prompt_');
    expect(blocks).toContain('💬 Answered by Ada: #2 blue');
    // The question was posted once.
    expect(slack.callsTo('chat.postMessage').filter(isQuestion)).toHaveLength(1);
  });
});
