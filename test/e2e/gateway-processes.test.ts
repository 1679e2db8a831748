import { describe, expect, it } from 'vitest';
import { textReply, toolCallReply } from '../fakes/fake-openai-server.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
  trackBatonProcesses,
} from '../support/baton-harness.ts';
import { botTexts, createConsoleThread, postConsoleMessage } from '../support/console-client.ts';
import { deferred } from '../support/deferred.ts';
import { goalOf, messagesOf, scriptByGoal, turnInputOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment({ clearScriptAfterEach: true });
const processes = trackBatonProcesses();

async function spawn(command: 'gateway' | 'worker', layer: Record<string, unknown>): Promise<BatonProcess> {
  const started = await spawnBatonProcess(command, redis.url, layer);
  processes.push(started);
  return started;
}

const gatewayLayer = () =>
  testConfigLayer(fake, { console: { port: 0 }, gateway: { board_interval_ms: 500 } });

describe('gateway processes', () => {
  it('runs 20 messages sent through two gateway processes in arrival order, never two at once', async () => {
    const layer = gatewayLayer();
    const first = await spawn('gateway', layer);
    const second = await spawn('gateway', layer);
    let inFlight = 0;
    let maxInFlight = 0;
    fake.setHandler(async (request) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 25));
      inFlight -= 1;
      return textReply(`re: ${turnInputOf(request)}`);
    });
    const thread = await createConsoleThread(first.consoleUrl!, 'ordering');
    const sent: string[] = [];
    for (let index = 0; index < 20; index += 1) {
      const url = index % 2 === 0 ? first.consoleUrl! : second.consoleUrl!;
      sent.push(`You: message ${index}`);
      expect((await postConsoleMessage(url, thread, `message ${index}`)).accepted).toBe(true);
    }
    await eventually(
      async () => ((await botTexts(first.consoleUrl!, thread)).length === 20 ? true : undefined),
      60_000,
    );
    expect(fake.requests.map(turnInputOf)).toEqual(sent);
    expect(maxInFlight).toBe(1);
    expect(await botTexts(second.consoleUrl!, thread)).toEqual(sent.map((text) => `re: ${text}`));
  });

  it('posts every result exactly once after the gateway is SIGKILLed while children run', async () => {
    const layer = gatewayLayer();
    await spawn('worker', layer);
    const gateway = await spawn('gateway', layer);
    const release = deferred();
    fake.setHandler(
      scriptByGoal(
        {
          'first child': async () => {
            await release.promise;
            return textReply('first result');
          },
          'second child': async () => {
            await release.promise;
            return textReply('second result');
          },
        },
        (request) =>
          messagesOf(request).at(-1)?.role === 'tool'
            ? textReply('Started two tasks.')
            : toolCallReply([
                { name: 'delegate_task_async', arguments: { goal: 'first child' } },
                { name: 'delegate_task_async', arguments: { goal: 'second child' } },
              ]),
      ),
    );
    const thread = await createConsoleThread(gateway.consoleUrl!, 'survive a gateway crash');
    await postConsoleMessage(gateway.consoleUrl!, thread, 'start two things');
    await eventually(async () =>
      fake.requests.filter((request) => goalOf(request) !== null).length === 2 ? true : undefined,
    );
    gateway.child.kill('SIGKILL');
    await gateway.exited;
    release.resolve();
    // Both children end while no gateway runs; their endings wait in Redis.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const restarted = await spawn('gateway', layer);
    const results = async () =>
      (await botTexts(restarted.consoleUrl!, thread)).filter((text) => text.includes('**Task t_'));
    await eventually(async () => ((await results()).length === 2 ? true : undefined), 30_000, 'both results');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const posted = await results();
    expect(posted).toHaveLength(2);
    expect(posted.join('\n')).toContain('first result');
    expect(posted.join('\n')).toContain('second result');
  });

  it('resumes a parent turn cut by a SIGKILL without redoing its steps or starting a second child', async () => {
    const layer = gatewayLayer();
    await spawn('worker', layer);
    const gateway = await spawn('gateway', layer);
    const parentCalls: number[] = [];
    fake.setHandler(
      scriptByGoal({ 'resumable child': () => new Promise(() => undefined) }, (request) => {
        const toolResults = messagesOf(request).filter((message) => message.role === 'tool').length;
        parentCalls.push(toolResults);
        if (toolResults === 0)
          return toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'resumable child' } }]);
        // The second step hangs on the first gateway: it dies here, after step 1 was checkpointed.
        if (parentCalls.filter((count) => count === 1).length === 1) return new Promise(() => undefined);
        return textReply('Started it once.');
      }),
    );
    const thread = await createConsoleThread(gateway.consoleUrl!, 'resume a turn');
    await postConsoleMessage(gateway.consoleUrl!, thread, 'start one thing');
    await eventually(async () => (parentCalls.length === 2 ? true : undefined), 20_000, 'the second step');
    gateway.child.kill('SIGKILL');
    await gateway.exited;
    // The dead gateway's lock on the thread lapses (10 s at most); then the next gateway takes the turn.
    const restarted = await spawn('gateway', layer);
    await eventually(
      async () =>
        (await botTexts(restarted.consoleUrl!, thread)).includes('Started it once.') ? true : undefined,
      60_000,
      'the resumed reply',
    );
    // Step 1 (no tool results yet) was asked once; only the unfinished step 2 was asked again.
    expect(parentCalls).toEqual([0, 1, 1]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const children = fake.requests.filter((request) => goalOf(request) === 'resumable child');
    expect(children).toHaveLength(1);
    expect(
      (await botTexts(restarted.consoleUrl!, thread)).filter((text) => text === 'Started it once.'),
    ).toHaveLength(1);
  }, 90_000);
});
