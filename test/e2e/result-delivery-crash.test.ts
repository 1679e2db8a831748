import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import { eventCallback, mentionEvent } from '../fakes/fake-slack-payloads.ts';
import { type FakeSlackServer, startFakeSlackServer } from '../fakes/fake-slack-server.ts';
import { eventually, testConfigLayer } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { goalOf, messagesOf, scriptByGoal } from '../support/model-scripts.ts';
import { useSlackBatonProcesses } from '../support/slack-baton-processes.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/**
 * A task's result on Slack, whose chat.postMessage takes no idempotency key, through real `baton gateway`
 * and `baton worker` processes: the gateway delivering it is SIGKILLed after Slack posted the result but
 * before the answer carrying its ts arrived. The gateway that retries the delivery finds that message by
 * reading the thread back and posts nothing more: the result is shown once.
 */

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
let slack: FakeSlackServer;
const slackUser = 'UADA';

beforeAll(async () => {
  slack = await startFakeSlackServer();
  slack.setUserName(slackUser, 'Ada');
});
const spawn = useSlackBatonProcesses({ redisUrl: () => redis.url, slack: () => slack });
afterAll(async () => {
  await slack.close();
});

const resultWords = 'the staging certificates were renewed and expire in ninety days';

describe('result delivery on Slack', () => {
  it('SIGKILLed after Slack posted the result but before its ts was recorded, the retry shows it once', async () => {
    const layer = testConfigLayer(fake, {
      access: { allowed_users: [slackUser] },
      gateway: { board_interval_ms: 500 },
    });
    const release = deferred();
    fake.setHandler(
      scriptByGoal(
        {
          'renew the certificates': async () => {
            await release.promise;
            return textReply(`Done: ${resultWords}.`);
          },
        },
        (request) =>
          messagesOf(request).at(-1)?.role === 'tool'
            ? textReply('Started the renewal.')
            : toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'renew the certificates' } }]),
      ),
    );
    await spawn('worker', layer);
    const first = await spawn('gateway', layer);
    const event = mentionEvent({ user: slackUser, text: 'renew the certs' });
    await slack.sendEnvelope('events_api', eventCallback(event));
    const inThread = () => [...slack.messages.values()].filter((message) => message.threadTs === event.ts);
    const results = () => inThread().filter((message) => message.text.includes(resultWords));
    // The parent's reply and the task board are posted; the child waits.
    await eventually(
      async () =>
        inThread().some((message) => message.text.includes('Started the renewal')) &&
        inThread().some((message) => message.blocks !== undefined) &&
        fake.requests.some((request) => goalOf(request) === 'renew the certificates')
          ? true
          : undefined,
      60_000,
      'the reply, the board and the child',
    );
    // The next post is the result: Slack carries it out, and its answer never comes.
    slack.failNext('chat.postMessage', { kind: 'unanswered' });
    release.resolve();
    await eventually(async () => (results().length === 1 ? true : undefined), 60_000, 'the result');
    first.child.kill('SIGKILL');
    await first.exited;

    const repliesBefore = slack.callsTo('conversations.replies').length;
    await spawn('gateway', layer);
    // The delivery job is taken over once its lock lapses: the new gateway looks the result up (or, were it
    // not to, posts it a second time).
    await eventually(
      async () =>
        results().length > 1 ||
        slack
          .callsTo('conversations.replies')
          .slice(repliesBefore)
          .some((call) => call.params.ts === event.ts)
          ? true
          : undefined,
      90_000,
      'the retried delivery',
    );
    // Give a duplicate, if there were to be one, time to appear.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(results()).toHaveLength(1);
  }, 240_000);
});
