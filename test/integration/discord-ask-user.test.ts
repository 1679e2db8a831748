import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { composeCommandRouter, gatewayParts } from '../../src/cli/compose-gateway.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import {
  type FakeDiscordServer,
  type FakeMessage,
  type FakeUser,
  startFakeDiscordServer,
} from '../fakes/fake-discord-server.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { childAsksThenFinishes, goalOf, messagesOf, toolResultsOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

/*
 * Issue 11 on Discord, end to end: a child asks with two choices, the question is an embed with a button
 * each, the owner presses one and the child goes on with that answer; someone who may not steer the task is
 * refused, ephemerally, and nothing changes.
 */
const { fake: openai, startRuntime } = useTestEnvironment();
let discord: FakeDiscordServer & { opsChannelId: string };
let runtime: BatonRuntime;
let gateway: Gateway;
let ada: FakeUser;
let bob: FakeUser;
const goal = 'Paint the deploy button';
const childRequests = () => openai.requests.filter((request) => goalOf(request) === goal);

beforeAll(async () => {
  openai.setHandler(
    childAsksThenFinishes(goal, { question: 'Which colour should the button be?', choices: ['red', 'blue'] }),
  );
  discord = await startFakeDiscordServer();
  ada = discord.addUser('Ada');
  bob = discord.addUser('Bob');
  const config = buildTestConfig(
    testConfigLayer(openai, {
      access: { allowed_users: [ada.id, bob.id], task_control: 'owner' },
      discord: { guild_ids: [discord.guildId], thread_name_prefix: 'baton: ' },
    }),
  );
  runtime = await startRuntime(config);
  await runtime.startWorker();
  const access = new AccessPolicy(config.access);
  const logger = createSilentLogger();
  gateway = new Gateway({
    ...gatewayParts(runtime),
    access,
    commands: composeCommandRouter(runtime, access, logger),
    logger,
  });
  gateway.addAdapter(
    new DiscordAdapter({
      token: discord.token,
      applicationId: discord.applicationId,
      apiUrl: discord.apiUrl,
      config: config.discord,
      logger,
    }),
  );
  await gateway.start();
});

afterAll(async () => {
  await gateway?.stop();
  await discord?.close();
});

describe('a child asks in a Discord thread', () => {
  it('the owner’s button press answers it, another person’s is refused ephemerally; `/task steer` follows up', async () => {
    const mention = discord.postMessage(
      ada,
      discord.opsChannelId,
      `<@${discord.botUser.id}> paint the button`,
    );
    const thread = await eventually(
      async () => discord.threads().find((candidate) => candidate.id === mention.id),
      10_000,
      'the thread',
    );
    const isPrompt = (message: FakeMessage) => JSON.stringify(message.components).includes('baton:answer:');
    const prompt = await eventually(
      async () => discord.botMessagesIn(thread.id).find(isPrompt),
      20_000,
      'the question',
    );
    const customIds = (prompt.components[0] as { components: Array<{ custom_id: string; label: string }> })
      .components;
    const taskId = /^baton:answer:(t_\w+):1$/.exec(customIds[0]!.custom_id)![1]!;
    expect(customIds.map((button) => [button.label, button.custom_id])).toEqual([
      ['red', `baton:answer:${taskId}:1`],
      ['blue', `baton:answer:${taskId}:2`],
    ]);
    expect(JSON.stringify(prompt.embeds)).toContain('Which colour should the button be?');

    const bobPress = discord.pressButton(bob, prompt, `baton:answer:${taskId}:2`);
    const refusal = await eventually(async () => discord.repliesTo(bobPress)[0], 10_000, 'the refusal');
    expect(refusal).toMatchObject({ ephemeral: true, content: expect.stringContaining('Only the task') });
    expect((await runtime.store.get(taskId))?.status).toBe('waiting_input');
    expect(childRequests()).toHaveLength(1);

    const adaPress = discord.pressButton(ada, prompt, `baton:answer:${taskId}:2`);
    await eventually(async () => discord.repliesTo(adaPress)[0], 10_000, 'the answer’s reply');
    await eventually(async () => (childRequests().length === 2 ? true : undefined), 20_000);
    expect(toolResultsOf(childRequests()[1]!).at(-1)).toEqual({ answer: 'blue', answered_by: 'Ada' });
    const resultOf = (message: FakeMessage) => message.content.includes(`Task ${taskId} completed`);
    await eventually(
      async () => (discord.botMessagesIn(thread.id).some(resultOf) ? true : undefined),
      20_000,
      'the result',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(discord.botMessagesIn(thread.id).filter(resultOf)).toHaveLength(1);
    // The question was posted once, and edited once to say who answered what, its buttons removed.
    await eventually(
      async () => (discord.botMessagesIn(thread.id).some(isPrompt) ? undefined : true),
      20_000,
      'the settled question',
    );
    const settled = discord.message(thread.id, prompt.id)!;
    expect(settled.components).toEqual([]);
    expect((settled.embeds[0] as { footer: { text: string } }).footer.text).toBe(
      '💬 Answered by Ada: #2 blue',
    );
    expect(
      discord.callsTo('PATCH', new RegExp(`/channels/${thread.id}/messages/${prompt.id}$`)),
    ).toHaveLength(1);

    // A follow-up by `/task steer` reopens the completed task: a second round, its result posted once more.
    const steer = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'steer',
      options: { id: taskId, message: 'also check X' },
    });
    const reply = await eventually(async () => discord.repliesTo(steer)[0], 10_000, 'the steer’s reply');
    expect(reply).toMatchObject({ ephemeral: false, content: expect.stringContaining('round 2') });
    await eventually(async () => (childRequests().length === 3 ? true : undefined), 20_000);
    expect(JSON.stringify(messagesOf(childRequests()[2]!).at(-1))).toContain('also check X');
    const secondOf = (message: FakeMessage) => resultOf(message) && message.content.includes('round 2');
    await eventually(
      async () => (discord.botMessagesIn(thread.id).some(secondOf) ? true : undefined),
      20_000,
      'the second result',
    );
    expect(discord.botMessagesIn(thread.id).filter(resultOf)).toHaveLength(2);
  });
});
