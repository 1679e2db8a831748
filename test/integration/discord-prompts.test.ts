import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { refusalText } from '../../adapters/discord/discord-context.ts';
import { parsePromptButtonId } from '../../adapters/discord/discord-prompt.ts';
import type { ChatUser, ConversationRef } from '../../src/gateway/chat-adapter.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { registerSecret } from '../../src/logging/redact-secrets.ts';
import {
  type FakeChannel,
  type FakeDiscordServer,
  type FakeUser,
  startFakeDiscordServer,
} from '../fakes/fake-discord-server.ts';
import { RecordingSink } from '../fakes/recording-sink.ts';
import { eventually } from '../support/baton-harness.ts';
import { sampleApproval, sampleQuestion } from '../support/sample-prompts.ts';

let discord: FakeDiscordServer & { opsChannelId: string };
let adapter: DiscordAdapter;
let thread: FakeChannel;
let ada: FakeUser;
let bob: FakeUser;
let mallory: FakeUser;
const sink = new RecordingSink();

beforeAll(async () => {
  discord = await startFakeDiscordServer();
  ada = discord.addUser('Ada');
  bob = discord.addUser('Bob');
  mallory = discord.addUser('Mallory');
  adapter = new DiscordAdapter({
    token: discord.token,
    applicationId: discord.applicationId,
    apiUrl: discord.apiUrl,
    config: { guild_ids: [discord.guildId], thread_name_prefix: '' },
    logger: createSilentLogger(),
  });
  // Mallory may not use Baton at all: the adapter refuses her press before the gateway sees her command.
  sink.allows = (user: ChatUser) => user.id !== mallory.id;
  await adapter.start(sink);
  thread = discord.addThread(discord.opsChannelId, 'rollout');
});

afterAll(async () => {
  await adapter?.stop();
  await discord?.close();
});

const refIn = (channel: FakeChannel): ConversationRef => ({
  platform: 'discord',
  channel: discord.opsChannelId,
  thread: channel.id,
});

describe('prompts on Discord', () => {
  it('posts a question as an embed with a button per choice, once per idempotency key', async () => {
    const message = {
      kind: 'prompt' as const,
      prompt: sampleQuestion,
      fallbackText: 'Task t_ask2q9 asks: Which window should the rollout use?',
      idempotencyKey: 'prompt:t_ask2q9:1',
    };
    const { messageId } = await adapter.send(refIn(thread), message);
    const posted = discord.message(thread.id, messageId)!;
    const embed = posted.embeds[0] as {
      title: string;
      description: string;
      footer: { text: string };
      fields: Array<{ name: string; value: string }>;
    };
    expect(embed.title).toBe('❓ Task t_ask2q9 asks');
    expect(embed.description).toContain('For **Ada** · Pick the rollout window');
    expect(embed.description).toContain('Which window should the rollout use?');
    expect(embed.footer.text).toBe('Or answer in words: /task answer id:t_ask2q9 text:…');
    expect(embed.fields).toContainEqual(
      expect.objectContaining({ name: 'Expires', value: '<t:1893553440:R>' }),
    );
    const buttons = (posted.components[0] as { components: Array<{ label: string; custom_id: string }> })
      .components;
    expect(buttons.map((button) => button.custom_id)).toEqual([
      'baton:answer:t_ask2q9:1',
      'baton:answer:t_ask2q9:2',
    ]);
    expect(buttons[1]!.label.length).toBeLessThanOrEqual(80);
    expect(buttons[1]!.label.endsWith('…')).toBe(true);
    expect(posted.nonce).toBeDefined();

    // The same post again (a delivery retry) carries the same nonce: Discord keeps one message.
    await adapter.send(refIn(thread), message);
    const nonces = discord.botMessagesIn(thread.id).map((each) => each.nonce);
    expect(new Set(nonces).size).toBe(1);
  });

  it('edits a settled prompt in place: the footer says how, the buttons are gone', async () => {
    const { messageId } = await adapter.send(refIn(thread), {
      kind: 'prompt',
      prompt: sampleQuestion,
      fallbackText: 'Task t_ask2q9 asks',
      idempotencyKey: 'prompt:t_ask2q9:7',
    });
    expect(discord.message(thread.id, messageId)!.components).toHaveLength(1);
    const at = Date.UTC(2030, 0, 1, 12, 0);
    await adapter.edit(refIn(thread), messageId, {
      kind: 'prompt',
      prompt: {
        ...sampleQuestion,
        outcome: { kind: 'answered', text: 'Answered by Ada: #1 Tonight 22:00', at },
      },
      fallbackText: 'Task t_ask2q9 asked. 💬 Answered by Ada: #1 Tonight 22:00',
    });
    const edit = discord
      .callsTo('PATCH', new RegExp(`/channels/${thread.id}/messages/${messageId}$`))
      .at(-1)!;
    expect((edit.body as { components: unknown[] }).components).toEqual([]);
    const edited = discord.message(thread.id, messageId)!;
    expect(edited.components).toEqual([]);
    const embed = edited.embeds[0] as {
      title: string;
      description: string;
      footer: { text: string };
      fields: Array<{ name: string }>;
      timestamp: string;
      color: number;
    };
    expect(embed.title).toBe('❓ Task t_ask2q9 asked');
    expect(embed.description).toContain('Which window should the rollout use?');
    expect(embed.footer.text).toBe('💬 Answered by Ada: #1 Tonight 22:00');
    // No expiry any more, and the time shown is when it was answered.
    expect(embed.fields.map((field) => field.name)).not.toContain('Expires');
    expect(embed.timestamp).toBe(new Date(at).toISOString());
    expect(embed.color).toBe(0x2ecc71);
  });

  it('draws an approval with the exact action and Approve / Deny', async () => {
    const { messageId } = await adapter.send(refIn(thread), {
      kind: 'prompt',
      prompt: sampleApproval('{"command":"rm -rf build/"}'),
      fallbackText: 'Task t_apr7k2 asks for approval',
    });
    const posted = discord.message(thread.id, messageId)!;
    const fields = (posted.embeds[0] as { fields: Array<{ name: string; value: string }> }).fields;
    expect(fields).toEqual([
      { name: 'Tool', value: '`terminal`', inline: true },
      { name: 'Workspace', value: '`app`', inline: true },
      { name: 'Arguments', value: '```\n{"command":"rm -rf build/"}\n```' },
    ]);
    const buttons = (
      posted.components[0] as { components: Array<{ label: string; custom_id: string; style: number }> }
    ).components;
    expect(buttons.map((button) => [button.label, button.custom_id, button.style])).toEqual([
      ['Approve', 'baton:approve:t_apr7k2', 3],
      ['Deny', 'baton:deny:t_apr7k2', 4],
    ]);
  });

  it('sends a pressed choice to the sink as the presser, and shows a refusal to them only', async () => {
    const posted = discord.botMessagesIn(thread.id)[0]!;
    sink.answer = (command) =>
      command.user.id === bob.id
        ? { text: `Only the task's owner or an admin can answer t_ask2q9.`, ephemeral: true }
        : { text: 'Ada answered t_ask2q9: Tonight 22:00.', ephemeral: false };
    const bobPress = discord.pressButton(bob, posted, 'baton:answer:t_ask2q9:2');
    await eventually(async () => (discord.repliesTo(bobPress)[0] ? true : undefined), 10_000);
    expect(discord.repliesTo(bobPress)[0]).toMatchObject({
      ephemeral: true,
      content: `Only the task's owner or an admin can answer t_ask2q9.`,
    });
    expect(sink.commands.at(-1)).toMatchObject({
      ref: refIn(thread),
      user: { id: bob.id, name: 'Bob' },
      text: 'answer t_ask2q9 #2',
      eventId: bobPress.id,
    });

    const adaPress = discord.pressButton(ada, posted, 'baton:answer:t_ask2q9:1');
    await eventually(async () => (discord.repliesTo(adaPress)[0] ? true : undefined), 10_000);
    expect(discord.repliesTo(adaPress)[0]).toMatchObject({ ephemeral: false });
    expect(sink.commands.at(-1)).toMatchObject({ user: { id: ada.id }, text: 'answer t_ask2q9 #1' });

    const before = sink.commands.length;
    const malloryPress = discord.pressButton(mallory, posted, 'baton:approve:t_ask2q9');
    await eventually(async () => (discord.repliesTo(malloryPress)[0] ? true : undefined), 10_000);
    expect(discord.repliesTo(malloryPress)[0]).toMatchObject({ ephemeral: true, content: refusalText });
    expect(sink.commands.length).toBe(before);
  });

  it('turns /task answer, approve and deny into the chat commands', async () => {
    sink.answer = (command) => ({ text: `did: ${command.text}`, ephemeral: true });
    const cases: Array<[string, Record<string, string>, string]> = [
      ['answer', { id: 't_ask2q9', text: 'tomorrow, after 9' }, 'answer t_ask2q9 tomorrow, after 9'],
      ['approve', { id: 't_apr7k2' }, 'approve t_apr7k2'],
      ['deny', { id: 't_apr7k2', reason: 'not on a Friday' }, 'deny t_apr7k2 not on a Friday'],
      ['deny', { id: 't_apr7k2' }, 'deny t_apr7k2'],
    ];
    for (const [subcommand, options, text] of cases) {
      const interaction = discord.slashCommand(ada, thread.id, 'task', { subcommand, options });
      await eventually(async () => (discord.repliesTo(interaction)[0] ? true : undefined), 10_000);
      expect(sink.commands.at(-1)?.text).toBe(text);
    }
  });

  it('answers an interaction with the text the outbound path prepared: redacted, split at 2,000', async () => {
    const secret = 'discord-interaction-secret-0123456789';
    registerSecret(secret);
    sink.answer = () => ({ text: `key ${secret} ${'x'.repeat(2500)}`, ephemeral: true });
    // The split is a Thread's on this adapter, as the gateway's is.
    sink.adapter = adapter;
    const interaction = discord.slashCommand(ada, thread.id, 'task', {
      subcommand: 'approve',
      options: { id: 't_apr7k2' },
    });
    const replies = await eventually(async () => {
      const all = discord.repliesTo(interaction);
      return all.length >= 2 ? all : undefined;
    }, 10_000).finally(() => {
      sink.adapter = null;
    });
    expect(replies.every((reply) => reply.content.length <= 2000)).toBe(true);
    expect(replies.map((reply) => reply.content).join('')).not.toContain(secret);
    expect(replies[0]!.content).toContain('key [redacted]');
  });

  it('reads back only the button ids it makes', () => {
    expect(parsePromptButtonId('baton:answer:t_ask2q9:2')).toBe('answer t_ask2q9 #2');
    expect(parsePromptButtonId('baton:deny:t_ask2q9')).toBe('deny t_ask2q9');
    for (const id of [
      'baton:answer:t_ask2q9',
      'baton:approve:t_ask2q9:1',
      'baton:answer:t_ask2q9:9',
      'baton:answer:T_BAD:1',
      'baton:cancel:t_ask2q9',
    ]) {
      expect([id, parsePromptButtonId(id)]).toEqual([id, null]);
    }
  });
});
