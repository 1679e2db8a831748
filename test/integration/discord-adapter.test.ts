import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { refusalText } from '../../adapters/discord/discord-context.ts';
import { composeCommandRouter, gatewayParts } from '../../src/cli/compose-gateway.ts';
import type { BatonConfig } from '../../src/config/schema.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import type { GatewaySink } from '../../src/gateway/chat-adapter.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import { scopeNames } from '../../src/usage/usage-ledger.ts';
import { describeAmounts } from '../../src/usage/usage-report.ts';
import {
  type FakeChannel,
  type FakeDiscordServer,
  type FakeInteraction,
  type FakeMessage,
  type FakeUser,
  startFakeDiscordServer,
} from '../fakes/fake-discord-server.ts';
import {
  type FakeReply,
  hangReply,
  type RecordedRequest,
  textReply,
  toolCallReply,
} from '../fakes/fake-openai-server.ts';
import { buildTestConfig, eventually, testConfigLayer } from '../support/baton-harness.ts';
import { deferred } from '../support/deferred.ts';
import { type GoalScript, goalOf, messagesOf, scriptByGoal, turnInputOf } from '../support/model-scripts.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake: openai, startRuntime } = useTestEnvironment();
let discord: FakeDiscordServer & { opsChannelId: string };
let runtime: BatonRuntime;
let gateway: Gateway;
let adapter: DiscordAdapter;
let config: BatonConfig;
let ada: FakeUser;
let bob: FakeUser;
let mallory: FakeUser;
let eve: FakeUser;
let helperBot: FakeUser;

let commandDelayMs = 0;

/** Children's scripts by goal, set per test; the parent's script too (default: echo the last message). */
const childScripts: Record<string, GoalScript> = {};
let parentScript: (request: RecordedRequest) => FakeReply;

const echo = (request: RecordedRequest) => textReply(`echo: ${turnInputOf(request)}`);
const isParent = (request: RecordedRequest) => goalOf(request) === null;
const parentRequests = () => openai.requests.filter(isParent);
const afterTool = (request: RecordedRequest) => messagesOf(request).at(-1)?.role === 'tool';

const botTexts = (channelId: string) => discord.botMessagesIn(channelId).map((message) => message.content);
const mention = () => `<@${discord.botUser.id}>`;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function threadNamed(name: string): Promise<FakeChannel> {
  return eventually(async () => discord.threads().find((thread) => thread.name === name), 10_000, name);
}

async function textIn(channelId: string, text: string): Promise<void> {
  await eventually(async () => (botTexts(channelId).includes(text) ? true : undefined), 15_000, text);
}

async function firstReply(interaction: FakeInteraction) {
  return eventually(async () => discord.repliesTo(interaction)[0], 10_000, 'an interaction reply');
}

/** Starts a conversation by mentioning the bot in #ops and waits for the thread Baton creates from it. */
async function mentionConversation(
  author: FakeUser,
  text: string,
): Promise<{ thread: FakeChannel; message: FakeMessage }> {
  const message = discord.postMessage(author, discord.opsChannelId, `${mention()} ${text}`);
  const thread = await eventually(
    async () => discord.threads().find((candidate) => candidate.id === message.id),
    10_000,
    'the thread from the mention',
  );
  return { thread, message };
}

beforeAll(async () => {
  openai.setHandler(scriptByGoal(childScripts, (request) => parentScript(request)));
  discord = await startFakeDiscordServer();
  const oncall = discord.addRole('oncall');
  ada = discord.addUser('Ada', { roleIds: [oncall] });
  bob = discord.addUser('Bob');
  mallory = discord.addUser('Mallory');
  eve = discord.addUser('Eve');
  helperBot = discord.addUser('Helper', { bot: true });
  config = buildTestConfig(
    testConfigLayer(openai, {
      // Ada is allowed through a role, Bob by id; Mallory and Eve are not allowed at all.
      access: { allowed_roles: [oncall], allowed_users: [bob.id], task_control: 'owner' },
      discord: { guild_ids: [discord.guildId], thread_name_prefix: 'baton: ' },
      gateway: { board_interval_ms: 300 },
      delegation: { max_iterations: 200 },
    }),
  );
  runtime = await startRuntime(config);
  await runtime.startWorker();
  const access = new AccessPolicy(config.access);
  const logger = createSilentLogger();
  const router = composeCommandRouter(runtime, access, logger);
  gateway = new Gateway({
    ...gatewayParts(runtime),
    access,
    // The real router, made slow on demand: Discord must then get a deferred response within 3 s.
    commands: {
      handle: async (command, isMember) => {
        if (commandDelayMs > 0) await wait(commandDelayMs);
        return router.handle(command, isMember);
      },
    },
    logger,
  });
  adapter = new DiscordAdapter({
    token: discord.token,
    applicationId: discord.applicationId,
    apiUrl: discord.apiUrl,
    config: config.discord,
    logger,
  });
  gateway.addAdapter(adapter);
  await gateway.start();
});

beforeEach(() => {
  parentScript = echo;
  commandDelayMs = 0;
});

afterAll(async () => {
  await gateway?.stop();
  await discord?.close();
});

/** A gateway that takes nothing: for adapters started only to register commands or to post. */
const idleSink: GatewaySink = {
  onMessage: async () => ({ accepted: false, queuedBehind: 0 }),
  onCommand: async () => ({ text: '', ephemeral: true }),
  knowsThread: async () => false,
  claimThread: async () => undefined,
  refreshBoard: async () => undefined,
  post: async () => undefined,
  notice: async () => undefined,
  chunksFor: (_ref, markdown) => [markdown],
  suggestTasks: async () => [],
  commandTextOf: () => null,
  isAllowed: () => false,
};

describe('the Discord adapter', () => {
  it('registers its slash commands in the configured guild, with only the intents it needs', async () => {
    expect(adapter.isHealthy()).toBe(true);
    // Guilds | GuildMessages | MessageContent
    expect(discord.gatewayStats.lastIntents).toBe((1 << 0) | (1 << 9) | (1 << 15));
    const guildPuts = discord.callsTo(
      'PUT',
      new RegExp(`^/applications/${discord.applicationId}/guilds/${discord.guildId}/commands$`),
    );
    expect(guildPuts).toHaveLength(1);
    expect(discord.callsTo('PUT', /^\/applications\/\d+\/commands$/)).toHaveLength(0);
    const commands = guildPuts[0]!.body as Array<Record<string, unknown>>;
    expect(commands.map((command) => command.name)).toEqual(['ask', 'tasks', 'task', 'usage']);
    expect(commands[0]!.options).toEqual([
      expect.objectContaining({ name: 'prompt', type: 3, required: true }),
    ]);
    expect(commands[1]!.options).toBeUndefined();
    const subcommands = commands[2]!.options as Array<{ name: string; type: number; options: unknown[] }>;
    expect(subcommands.map((option) => [option.name, option.type])).toEqual([
      ['status', 1],
      ['steer', 1],
      ['cancel', 1],
      ['collect', 1],
      ['merge', 1],
      ['answer', 1],
      ['approve', 1],
      ['deny', 1],
    ]);
    for (const subcommand of subcommands) {
      expect(subcommand.options[0]).toMatchObject({
        name: 'id',
        type: 3,
        required: true,
        autocomplete: true,
      });
    }
    expect(subcommands[1]!.options[1]).toMatchObject({ name: 'message', type: 3, required: true });
    expect(subcommands[5]!.options[1]).toMatchObject({ name: 'text', type: 3, required: true });
    expect(subcommands[7]!.options[1]).toMatchObject({ name: 'reason', type: 3, required: false });
  });

  it('registers globally when no guild is configured', async () => {
    const global = new DiscordAdapter({
      token: discord.token,
      applicationId: discord.applicationId,
      apiUrl: `${discord.apiUrl}/v10/`,
      config: { guild_ids: [], thread_name_prefix: '' },
      logger: createSilentLogger(),
    });
    await global.start(idleSink);
    try {
      const globalPuts = discord.callsTo(
        'PUT',
        new RegExp(`^/applications/${discord.applicationId}/commands$`),
      );
      expect(globalPuts).toHaveLength(1);
      expect((globalPuts[0]!.body as Array<{ name: string }>).map((command) => command.name)).toEqual([
        'ask',
        'tasks',
        'task',
        'usage',
      ]);
      expect(discord.registeredCommands.global).toHaveLength(4);
    } finally {
      await global.stop();
    }
    expect(global.isHealthy()).toBe(false);
  });

  it("fails to start with a clear error when the application id is not the bot token's", async () => {
    const wrong = new DiscordAdapter({
      token: discord.token,
      applicationId: '123456789012345678',
      apiUrl: discord.apiUrl,
      config: config.discord,
      logger: createSilentLogger(),
    });
    const identifies = discord.gatewayStats.identifies;
    const failure = await wrong.start(gateway).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'config_invalid' });
    expect(String((failure as Error).message)).toContain('DISCORD_APPLICATION_ID');
    expect(String((failure as Error).message)).not.toContain(discord.token);
    expect(discord.gatewayStats.identifies).toBe(identifies);
    expect(wrong.isHealthy()).toBe(false);
  });

  it('/ask defers, opens a thread, answers in it, and later posts the background result there', async () => {
    childScripts['Summarise the deploy log'] = () => textReply('Deploy log summarised: all green.');
    parentScript = (request) =>
      afterTool(request)
        ? textReply('I started a background task for that.')
        : toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'Summarise the deploy log' } }]);
    const ask = discord.slashCommand(ada, discord.opsChannelId, 'ask', {
      options: { prompt: 'Please summarise   the deploy log' },
    });
    const thread = await threadNamed('baton: Please summarise the deploy log');
    expect(ask.callbacks[0]).toMatchObject({ type: 5, data: { flags: 0 } });
    expect(thread.parent_id).toBe(discord.opsChannelId);
    await textIn(thread.id, 'I started a background task for that.');
    expect(botTexts(thread.id)[0]).toBe('**Ada:** Please summarise   the deploy log');
    const pointer = await firstReply(ask);
    expect(pointer).toMatchObject({ ephemeral: false });
    expect(pointer.content).toContain(`<#${thread.id}>`);
    const firstParentRequest = parentRequests().find((request) =>
      turnInputOf(request).includes('deploy log'),
    );
    expect(turnInputOf(firstParentRequest!)).toBe('Ada: Please summarise   the deploy log');

    const result = await eventually(
      async () => botTexts(thread.id).find((text) => text.includes('Deploy log summarised: all green.')),
      15_000,
      'the task result in the thread',
    );
    expect(result).toMatch(/✅ \*\*Task t_\w+ completed\*\*/);
    expect(discord.callsTo('POST', new RegExp(`^/channels/${thread.id}/typing$`)).length).toBeGreaterThan(0);
    const [task] = await runtime.store.listChannel('discord', discord.opsChannelId, 1);
    expect(task!.origin).toMatchObject({
      platform: 'discord',
      channel: discord.opsChannelId,
      thread: thread.id,
    });
  });

  it('a mention starts a thread; a follow-up in it without a mention continues the same session', async () => {
    const { thread, message } = await mentionConversation(ada, 'what changed in the last deploy?');
    expect(thread.name).toBe('baton: what changed in the last deploy?');
    expect(
      discord.callsTo(
        'POST',
        new RegExp(`^/channels/${discord.opsChannelId}/messages/${message.id}/threads$`),
      ),
    ).toHaveLength(1);
    await textIn(thread.id, 'echo: Ada: what changed in the last deploy?');

    discord.postMessage(bob, thread.id, 'and the one before?');
    await textIn(thread.id, 'echo: Bob: and the one before?');
    const last = parentRequests().find((request) => turnInputOf(request) === 'Bob: and the one before?')!;
    const userTexts = messagesOf(last)
      .filter((entry) => entry.role === 'user')
      .map((entry) => entry.content);
    expect(userTexts).toEqual(['Ada: what changed in the last deploy?', 'Bob: and the one before?']);
  });

  it('steers and cancels by owner only, autocompletes ids, and cancels from the board button', async () => {
    const steerable = 'Watch the error rate';
    const byCommand = 'Tail the audit log';
    const byButton = 'Scan the backups';
    const steerReceived = deferred<string>();
    childScripts[steerable] = async (request) => {
      const steer = messagesOf(request)
        .map((entry) => String(entry.content ?? ''))
        .find((content) => content.startsWith('[Steering message from'));
      if (steer) {
        steerReceived.resolve(steer);
        return textReply('Watched the error rate, as steered.');
      }
      await wait(150);
      return toolCallReply([{ name: 'check_again', arguments: {} }]);
    };
    childScripts[byCommand] = () => hangReply();
    childScripts[byButton] = () => hangReply();
    parentScript = (request) =>
      afterTool(request)
        ? textReply('Three watchers started.')
        : toolCallReply(
            [steerable, byCommand, byButton].map((goal) => ({
              name: 'delegate_task_async',
              arguments: { goal },
            })),
          );
    discord.slashCommand(ada, discord.opsChannelId, 'ask', {
      options: { prompt: 'Start the three watchers' },
    });
    const thread = await threadNamed('baton: Start the three watchers');
    await textIn(thread.id, 'Three watchers started.');
    const byGoal = new Map<string, TaskRecord>();
    await eventually(async () => {
      for (const task of await runtime.store.listChannel('discord', discord.opsChannelId)) {
        if (task.origin.thread === thread.id) byGoal.set(task.goal, task);
      }
      return byGoal.size === 3 ? true : undefined;
    });
    const idOf = (goal: string) => byGoal.get(goal)!.id;

    // Autocomplete in the thread offers the thread's active task ids, newest first.
    const lookup = discord.autocomplete(ada, thread.id, 'task', {
      subcommand: 'cancel',
      options: { id: '' },
      focused: 'id',
    });
    const choices = await eventually(async () => lookup.choices ?? undefined);
    const activeIds = (await runtime.store.listChannel('discord', discord.opsChannelId))
      .filter((task) => task.status === 'queued' || task.status === 'running')
      .filter((task) => task.origin.thread === thread.id)
      .map((task) => task.id);
    expect(choices.map((choice) => choice.value)).toEqual(activeIds);
    expect(choices.map((choice) => choice.value)).toEqual(
      expect.arrayContaining([...byGoal.values()].map((task) => task.id)),
    );
    // Someone the access rules refuse is offered nothing (the gateway decides, not the adapter).
    const malloryLookup = discord.autocomplete(mallory, thread.id, 'task', {
      subcommand: 'status',
      options: { id: '' },
      focused: 'id',
    });
    expect(await eventually(async () => malloryLookup.choices ?? undefined)).toEqual([]);

    // Bob may use Baton but does not own these tasks.
    const bobSteer = discord.slashCommand(bob, thread.id, 'task', {
      subcommand: 'steer',
      options: { id: idOf(steerable), message: 'look at 5xx only' },
    });
    expect(await firstReply(bobSteer)).toEqual({
      content: `Only the task's owner or an admin can steer ${idOf(steerable)}.`,
      ephemeral: true,
      embeds: [],
    });
    // `/task merge id:` reaches the command router and its access decision, like cancel.
    const bobMerge = discord.slashCommand(bob, thread.id, 'task', {
      subcommand: 'merge',
      options: { id: idOf(steerable) },
    });
    expect(await firstReply(bobMerge)).toEqual({
      content: `Only the task's owner or an admin can merge ${idOf(steerable)}.`,
      ephemeral: true,
      embeds: [],
    });
    const bobCancel = discord.slashCommand(bob, thread.id, 'task', {
      subcommand: 'cancel',
      options: { id: idOf(byCommand) },
    });
    expect(await firstReply(bobCancel)).toMatchObject({
      content: `Only the task's owner or an admin can cancel ${idOf(byCommand)}.`,
      ephemeral: true,
    });

    const adaSteer = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'steer',
      options: { id: idOf(steerable), message: 'look at 5xx only' },
    });
    expect(await firstReply(adaSteer)).toMatchObject({
      content: `Steering message queued for ${idOf(steerable)}.`,
      ephemeral: true,
    });
    expect(await steerReceived.promise).toBe('[Steering message from Ada]: look at 5xx only');

    const adaCancel = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'cancel',
      options: { id: idOf(byCommand) },
    });
    expect(await firstReply(adaCancel)).toMatchObject({
      content: `Cancelled ${idOf(byCommand)}.`,
      ephemeral: false,
    });

    // The live board: an embed with a Cancel and a Refresh button for each active task.
    const board = await eventually(async () =>
      discord
        .botMessagesIn(thread.id)
        .find((message) =>
          message.components.some((row) => JSON.stringify(row).includes(`"baton:cancel:${idOf(byButton)}"`)),
        ),
    );
    expect(board.embeds[0]).toMatchObject({ title: 'Tasks' });

    const malloryPress = discord.pressButton(mallory, board, `baton:cancel:${idOf(byButton)}`);
    expect(await firstReply(malloryPress)).toMatchObject({ content: refusalText, ephemeral: true });
    const bobPress = discord.pressButton(bob, board, `baton:cancel:${idOf(byButton)}`);
    expect(await firstReply(bobPress)).toMatchObject({
      content: `Only the task's owner or an admin can cancel ${idOf(byButton)}.`,
      ephemeral: true,
    });
    const refresh = discord.pressButton(bob, board, `baton:refresh:${idOf(byButton)}`);
    expect((await firstReply(refresh)).content).toMatch(new RegExp(`^${idOf(byButton)} · (queued|running)`));
    expect((await firstReply(refresh)).ephemeral).toBe(true);

    const adaPress = discord.pressButton(ada, board, `baton:cancel:${idOf(byButton)}`);
    expect(await firstReply(adaPress)).toMatchObject({
      content: `Cancelled ${idOf(byButton)}.`,
      ephemeral: false,
    });
    expect((await runtime.store.get(idOf(byButton)))!.status).toBe('cancelled');
    await eventually(async () => {
      const fields = (discord.message(thread.id, board.id)!.embeds[0]?.fields ?? []) as Array<{
        name: string;
      }>;
      return fields.some((field) => field.name.startsWith(idOf(byButton)) && field.name.includes('cancelled'))
        ? true
        : undefined;
    });
    expect(
      discord.callsTo('PATCH', new RegExp(`^/channels/${thread.id}/messages/${board.id}$`)).length,
    ).toBeGreaterThan(0);
    await eventually(async () =>
      botTexts(thread.id).some((text) => text.includes('Watched the error rate, as steered.'))
        ? true
        : undefined,
    );
  });

  it('defers a slow command within the 3 s window, then answers publicly or privately as the gateway says', async () => {
    childScripts['Wait for the slow commands'] = () => hangReply();
    parentScript = (request) =>
      afterTool(request)
        ? textReply('Waiting task started.')
        : toolCallReply([{ name: 'delegate_task_async', arguments: { goal: 'Wait for the slow commands' } }]);
    const { thread } = await mentionConversation(ada, 'start a waiting task');
    await textIn(thread.id, 'Waiting task started.');
    const [task] = await runtime.store.listChannel('discord', discord.opsChannelId, 1);
    expect(task!.goal).toBe('Wait for the slow commands');

    commandDelayMs = 2000;
    const status = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'status',
      options: { id: task!.id },
    });
    const steer = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'steer',
      options: { id: task!.id, message: 'take your time' },
    });
    const statusReply = await firstReply(status);
    expect(status.callbacks).toEqual([{ type: 5, data: { flags: 64 } }]);
    // Status answers privately: the private placeholder is edited in place.
    expect(status.originalDeleted).toBe(false);
    expect(statusReply.ephemeral).toBe(true);
    expect(statusReply.content).toMatch(new RegExp(`^${task!.id} · (queued|running)`));
    expect(await firstReply(steer)).toMatchObject({
      content: `Steering message queued for ${task!.id}.`,
      ephemeral: true,
    });
    expect(steer.callbacks.map((callback) => callback.type)).toEqual([5]);
    expect(steer.originalDeleted).toBe(false);

    // The same interaction delivered again is neither answered nor run again.
    commandDelayMs = 0;
    discord.redeliverInteraction(steer);
    await wait(300);
    expect(steer.callbacks).toHaveLength(1);
    const inbox = await runtime.store.readInbox(task!.id, '0-0');
    expect(inbox.map((message) => message.text)).toEqual(['take your time']);

    const cancel = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'cancel',
      options: { id: task!.id },
    });
    expect(await firstReply(cancel)).toMatchObject({ content: `Cancelled ${task!.id}.`, ephemeral: false });
    expect(cancel.callbacks.map((callback) => callback.type)).toEqual([4]);

    // A slow public answer replaces the private placeholder.
    childScripts['Another slow one'] = () => hangReply();
    const [other] = await runtime.service.dispatch(
      {
        sessionKey: task!.sessionKey,
        origin: task!.origin,
        callerTaskId: null,
        depth: 0,
        displayName: 'Ada',
      },
      [{ goal: 'Another slow one' }],
    );
    commandDelayMs = 2000;
    const slowCancel = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'cancel',
      options: { id: other!.id },
    });
    expect(await firstReply(slowCancel)).toMatchObject({
      content: `Cancelled ${other!.id}.`,
      ephemeral: false,
    });
    expect(slowCancel.callbacks).toEqual([{ type: 5, data: { flags: 64 } }]);
    expect(slowCancel.originalDeleted).toBe(true);
    commandDelayMs = 0;
  });

  it('shows a private thread’s tasks outside it only to its members: /tasks, /task status, autocomplete (issue 8 §3)', async () => {
    const secret = 'Draft the merger memo';
    childScripts[secret] = () => hangReply();
    parentScript = (request) =>
      afterTool(request)
        ? textReply('Memo task started.')
        : toolCallReply([{ name: 'delegate_task_async', arguments: { goal: secret } }]);
    const privateThread = discord.addThread(discord.opsChannelId, 'merger', {
      private: true,
      memberIds: [ada.id],
    });
    discord.postMessage(ada, privateThread.id, `${mention()} start the memo`);
    await textIn(privateThread.id, 'Memo task started.');
    const task = await eventually(async () =>
      (await runtime.store.listChannel('discord', discord.opsChannelId)).find((each) => each.goal === secret),
    );
    expect(task.origin).toMatchObject({ thread: privateThread.id, privateThread: true });

    // At the channel, Bob (allowed, not a member) does not see it; Ada (a member) does.
    const bobList = await firstReply(discord.slashCommand(bob, discord.opsChannelId, 'tasks'));
    expect(bobList.content).not.toContain(task.id);
    expect(bobList.content).not.toContain('merger');
    const adaList = await firstReply(discord.slashCommand(ada, discord.opsChannelId, 'tasks'));
    expect(adaList.content).toContain(task.id);
    expect(
      discord.callsTo('GET', new RegExp(`/channels/${privateThread.id}/thread-members/`)).length,
    ).toBeGreaterThan(0);

    // By id, Bob gets the answer an id that does not exist gets.
    const statusFor = (user: FakeUser, id: string) =>
      firstReply(
        discord.slashCommand(user, discord.opsChannelId, 'task', { subcommand: 'status', options: { id } }),
      );
    expect(await statusFor(bob, task.id)).toMatchObject({
      content: `No task ${task.id} here.`,
      ephemeral: true,
    });
    expect(await statusFor(bob, 't_zzzz99')).toMatchObject({
      content: 'No task t_zzzz99 here.',
      ephemeral: true,
    });
    expect((await statusFor(ada, task.id)).content).toContain(secret);

    // Autocomplete follows the same rule.
    const choicesFor = async (user: FakeUser) => {
      const lookup = discord.autocomplete(user, discord.opsChannelId, 'task', {
        subcommand: 'status',
        options: { id: '' },
        focused: 'id',
      });
      return (await eventually(async () => lookup.choices ?? undefined)).map((choice) => choice.value);
    };
    expect(await choicesFor(bob)).not.toContain(task.id);
    expect(await choicesFor(ada)).toContain(task.id);

    const cancel = discord.slashCommand(ada, privateThread.id, 'task', {
      subcommand: 'cancel',
      options: { id: task.id },
    });
    expect((await firstReply(cancel)).content).toBe(`Cancelled ${task.id}.`);
  });

  it('splits a 5,000-character reply with a code block into balanced chunks of at most 2,000', async () => {
    const code = Array.from(
      { length: 110 },
      (_, line) => `console.log('line ${line}', ${'"x"'.repeat(10)});`,
    );
    const reply = `Here is the script:\n\n\`\`\`ts\n${code.join('\n')}\n\`\`\`\n\nThat is all.`;
    expect(reply.length).toBeGreaterThan(5000);
    parentScript = () => textReply(reply);
    const { thread } = await mentionConversation(ada, 'write me the script');
    await eventually(async () => (botTexts(thread.id).at(-1)?.endsWith('That is all.') ? true : undefined));
    const chunks = botTexts(thread.id);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(2000);
      expect((chunk.match(/^```/gm) ?? []).length % 2).toBe(0);
    }
    expect(chunks[1]!.startsWith('```ts\n')).toBe(true);
    const joined = chunks.join('\n');
    for (let line = 0; line < code.length; line += 1) {
      expect(joined.split(`'line ${line}'`).length - 1).toBe(1);
    }
  });

  it('resumes after the gateway drops, and answers the next message exactly once', async () => {
    const { thread } = await mentionConversation(ada, 'stay with me');
    await textIn(thread.id, 'echo: Ada: stay with me');
    const identifies = discord.gatewayStats.identifies;

    // Dropped with code 4000; the RESUME replays the last two events the client had already handled.
    discord.dropConnection(4000, 2);
    discord.postMessage(ada, thread.id, 'are you still there?');
    await textIn(thread.id, 'echo: Ada: are you still there?');
    expect(discord.gatewayStats.resumes).toBe(1);
    expect(discord.gatewayStats.connections.at(-1)).toMatch(/^\/resume-gateway\?v=10/);

    // An abnormal drop (1006) without a close frame, then a message sent while the client is away.
    discord.dropConnection(1006, 1);
    discord.postMessage(ada, thread.id, 'and now?');
    await textIn(thread.id, 'echo: Ada: and now?');
    expect(discord.gatewayStats.resumes).toBe(2);
    expect(discord.gatewayStats.identifies).toBe(identifies);
    expect(discord.gatewayStats.replayed).toBeGreaterThanOrEqual(3);
    await wait(500);
    for (const text of [
      'echo: Ada: stay with me',
      'echo: Ada: are you still there?',
      'echo: Ada: and now?',
    ]) {
      expect(botTexts(thread.id).filter((posted) => posted === text)).toHaveLength(1);
    }
    for (const said of ['Ada: stay with me', 'Ada: are you still there?', 'Ada: and now?']) {
      expect(parentRequests().filter((request) => turnInputOf(request) === said)).toHaveLength(1);
    }
    await eventually(async () => (adapter.isHealthy() ? true : undefined));
  });

  it('refuses people who may not use Baton, ephemerally where Discord allows, without a model call', async () => {
    const { thread } = await mentionConversation(ada, 'an open thread');
    await textIn(thread.id, 'echo: Ada: an open thread');
    const requestsBefore = openai.requests.length;
    const threadsBefore = discord.threads().length;

    const ask = discord.slashCommand(mallory, discord.opsChannelId, 'ask', {
      options: { prompt: 'let me in' },
    });
    expect(await firstReply(ask)).toMatchObject({ content: refusalText, ephemeral: true });
    expect(ask.callbacks.map((callback) => callback.type)).toEqual([4]);

    const mentioned = discord.postMessage(mallory, discord.opsChannelId, `${mention()} let me in`);
    const refusal = await eventually(async () =>
      discord
        .botMessagesIn(discord.opsChannelId)
        .find((message) => message.message_reference?.message_id === mentioned.id),
    );
    expect(refusal.content).toBe(refusalText);

    // In a thread Baton owns, the gateway refuses the turn; the adapter replies briefly.
    const written = discord.postMessage(eve, thread.id, 'what are you all doing?');
    const inThread = await eventually(async () =>
      discord
        .botMessagesIn(thread.id)
        .find((message) => message.message_reference?.message_id === written.id),
    );
    expect(inThread.content).toBe("You're not allowed to use Baton here.");

    const tasks = discord.slashCommand(mallory, thread.id, 'tasks');
    expect(await firstReply(tasks)).toMatchObject({ ephemeral: true });
    expect((await firstReply(tasks)).content).toContain('not allowed');

    await wait(300);
    expect(openai.requests.length).toBe(requestsBefore);
    expect(discord.threads().length).toBe(threadsBefore);
  });

  it('/usage answers privately with the person’s and the channel’s tokens and cost', async () => {
    await runtime.usage.record(
      { platform: 'discord', channel: discord.opsChannelId, user: ada.id, taskId: null },
      'default',
      { input: 1200, cached: 300, output: 500, cost: 0.25, calls: 2 },
    );
    // Earlier tests' parent turns count too: compare with the ledger rather than fixed figures.
    const today = await runtime.usage.total(scopeNames.user('discord', ada.id), 1);
    expect(today.input).toBeGreaterThanOrEqual(1200);
    const usage = discord.slashCommand(ada, discord.opsChannelId, 'usage');
    const reply = await firstReply(usage);
    expect(reply).toMatchObject({ ephemeral: true });
    expect(reply.content).toContain(`You (Ada) today: ${describeAmounts(today)}`);
    expect(reply.content).toMatch(
      /This channel, last 30 days: [\d,]+ tokens \(in [\d,]+ · cached [\d,]+ · out [\d,]+\)/,
    );
  });

  it("never makes a turn of a bot's message, an edit, or a repeated delivery", async () => {
    const { thread, message } = await mentionConversation(ada, 'first question');
    await textIn(thread.id, 'echo: Ada: first question');
    const inThread = discord.postMessage(ada, thread.id, 'second question');
    await textIn(thread.id, 'echo: Ada: second question');
    const threadsBefore = discord.threads().length;

    discord.postMessage(helperBot, discord.opsChannelId, `${mention()} bots talking to bots`);
    discord.postMessage(helperBot, thread.id, 'a bot in the thread');
    discord.editMessage(message, `${mention()} first question, edited`);
    discord.editMessage(inThread, 'second question, edited');
    discord.redeliver(inThread);
    discord.postMessage(ada, thread.id, 'barrier');
    await textIn(thread.id, 'echo: Ada: barrier');
    await wait(300);

    expect(botTexts(thread.id)).toEqual([
      'echo: Ada: first question',
      'echo: Ada: second question',
      'echo: Ada: barrier',
    ]);
    expect(discord.threads().length).toBe(threadsBefore);
    const said = parentRequests().flatMap((request) =>
      messagesOf(request).map((entry) => String(entry.content)),
    );
    expect(said.some((text) => text.includes('bots talking') || text.includes('a bot in the thread'))).toBe(
      false,
    );
    expect(said.some((text) => text.includes('edited'))).toBe(false);
  });

  it('turns Discord failures into PlatformSendError and never posts a retried message twice', async () => {
    const { thread } = await mentionConversation(ada, 'flaky platform');
    await textIn(thread.id, 'echo: Ada: flaky platform');
    const messagesPath = new RegExp(`^/channels/${thread.id}/messages$`);

    // A 500 after the message landed: the gateway retries, the nonce makes Discord return the first one.
    discord.failNext({ method: 'POST', path: messagesPath, status: 500, landed: true });
    discord.postMessage(ada, thread.id, 'through a 500');
    await eventually(async () =>
      discord.callsTo('POST', messagesPath).at(-1)?.status === 200 &&
      discord.callsTo('POST', messagesPath).at(-2)?.status === 500
        ? true
        : undefined,
    );
    const [failed, retried] = discord.callsTo('POST', messagesPath).slice(-2) as Array<{
      body: { nonce: string; enforce_nonce: boolean; content: string };
    }>;
    expect(retried!.body.nonce).toBe(failed!.body.nonce);
    expect(retried!.body.enforce_nonce).toBe(true);
    expect(botTexts(thread.id).filter((text) => text === 'echo: Ada: through a 500')).toHaveLength(1);

    // A 429: discord.js waits out retry_after itself and posts once.
    discord.failNext({ method: 'POST', path: messagesPath, status: 429, retryAfterSeconds: 0.3 });
    discord.postMessage(ada, thread.id, 'through a 429');
    await textIn(thread.id, 'echo: Ada: through a 429');
    const [limited, passed] = discord.callsTo('POST', messagesPath).slice(-2);
    expect(limited!.status).toBe(429);
    expect(passed!.at - limited!.at).toBeGreaterThanOrEqual(280);
    expect(botTexts(thread.id).filter((text) => text === 'echo: Ada: through a 429')).toHaveLength(1);

    const ref = { platform: 'discord', channel: discord.opsChannelId, thread: thread.id };
    discord.failNext({ method: 'POST', path: messagesPath, status: 403 });
    const refused = await adapter
      .send(ref, { kind: 'text', text: 'forbidden' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PlatformSendError);
    expect(refused).toMatchObject({ retryable: false, code: 'platform_send_failed' });
    discord.failNext({ method: 'POST', path: messagesPath, status: 503 });
    const unavailable = await adapter
      .send(ref, { kind: 'text', text: 'unavailable' })
      .catch((error: unknown) => error);
    expect(unavailable).toMatchObject({ retryable: true });
    expect(botTexts(thread.id)).not.toContain('forbidden');
    const tooLong = await adapter.send(ref, { kind: 'text', text: 'y'.repeat(2500) });
    expect(discord.message(thread.id, tooLong.messageId)!.content.length).toBe(2000);
  });

  it('derives the nonce of a keyed post from its key, so a retry from another gateway is dropped too', async () => {
    const { thread } = await mentionConversation(ada, 'keyed posts');
    await textIn(thread.id, 'echo: Ada: keyed posts');
    const ref = { platform: 'discord', channel: discord.opsChannelId, thread: thread.id };
    const messagesPath = new RegExp(`^/channels/${thread.id}/messages$`);
    const message = { kind: 'text' as const, text: 'result chunk', idempotencyKey: 'delivery:t_keyed1:0' };
    // The first attempt lands but answers 500, as when a gateway dies mid-post; a new adapter instance (as in a
    // restarted gateway, with no memory of the attempt) retries.
    discord.failNext({ method: 'POST', path: messagesPath, status: 500, landed: true });
    await adapter.send(ref, message).catch(() => undefined);
    const restarted = new DiscordAdapter({
      token: discord.token,
      applicationId: discord.applicationId,
      apiUrl: discord.apiUrl,
      config: config.discord,
      logger: createSilentLogger(),
    });
    await restarted.start(idleSink);
    let retried: { messageId: string };
    try {
      retried = await restarted.send(ref, message);
    } finally {
      await restarted.stop();
    }
    const [first, second] = discord.callsTo('POST', messagesPath).slice(-2) as Array<{
      body: { nonce: string };
    }>;
    expect(second!.body.nonce).toBe(first!.body.nonce);
    expect(botTexts(thread.id).filter((text) => text === 'result chunk')).toHaveLength(1);
    expect(discord.message(thread.id, retried.messageId)!.content).toBe('result chunk');
  });
});
