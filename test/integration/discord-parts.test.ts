import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { discordAdapterFromEnv } from '../../adapters/discord/discord-adapter-from-env.ts';
import {
  boardColours,
  boardMessageBody,
  maxButtonRows,
  parseBoardButtonId,
} from '../../adapters/discord/discord-board.ts';
import { RetryNonces } from '../../adapters/discord/discord-retry-nonces.ts';
import { toPlatformSendError } from '../../adapters/discord/discord-send-error.ts';
import { stripBotMentions, threadNameFor } from '../../adapters/discord/discord-text.ts';
import type { TaskBoardView } from '../../src/gateway/chat-adapter.ts';
import { boardViewOf, type TaskBoardFacts } from '../../src/gateway/render-board.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import { cutText } from '../../src/text/cut-text.ts';
import { validateMessageBody } from '../fakes/fake-discord-payloads.ts';

function row(taskId: string, status: string, extra: Partial<TaskBoardFacts> = {}): TaskBoardFacts {
  return {
    taskId,
    parentTaskId: null,
    depth: 1,
    goal: `goal of ${taskId}`,
    status,
    elapsedSeconds: 75,
    steps: 3,
    lastActivity: 'tool-call fetch_url',
    ...extra,
  };
}

function view(rows: TaskBoardFacts[], settled = false): TaskBoardView {
  return boardViewOf('discord:c:t', rows, settled);
}

describe('the Discord task board', () => {
  it('renders a field per task in tree order with a Cancel and Refresh row per active task', () => {
    const body = boardMessageBody(
      view([
        row('t_parent1', 'running'),
        row('t_other22', 'completed', { lastActivity: 'done' }),
        row('t_child33', 'queued', { parentTaskId: 't_parent1', depth: 2 }),
      ]),
    );
    const embed = body.embeds[0]!;
    expect(embed.title).toBe('Tasks');
    expect(embed.color).toBe(boardColours.running);
    expect(embed.fields!.map((field) => field.name)).toEqual([
      't_parent1 · 🔄 running',
      '↳ t_child33 · ⏳ queued',
      't_other22 · ✅ completed',
    ]);
    expect(embed.fields![0]!.value).toBe('goal of t_parent1\n1m 15s · 3 steps\n↳ tool-call fetch_url');
    expect(embed.fields![2]!.value).toBe('goal of t_other22\n1m 15s · 3 steps');
    expect(
      body.components.map((actionRow) => actionRow.components.map((button) => button.custom_id)),
    ).toEqual([
      ['baton:cancel:t_parent1', 'baton:refresh:t_parent1'],
      ['baton:cancel:t_child33', 'baton:refresh:t_child33'],
    ]);
    expect(validateMessageBody(body as unknown as Record<string, unknown>, true)).toBeNull();
  });

  it('caps buttons at 5 rows and fields within Discord limits, and says so', () => {
    const rows = Array.from({ length: 40 }, (_, index) =>
      row(`t_task${String(index).padStart(3, '0')}`, 'running', {
        goal: 'g'.repeat(900),
        lastActivity: 'a'.repeat(900),
      }),
    );
    const body = boardMessageBody(view(rows));
    expect(body.components).toHaveLength(maxButtonRows);
    expect(body.embeds[0]!.footer!.text).toBe(
      'Buttons for the first 5 of 40 active tasks; /task cancel works for any.',
    );
    expect(body.embeds[0]!.fields!.length).toBeLessThanOrEqual(25);
    expect(body.embeds[0]!.fields!.at(-1)!.name).toBe('…');
    expect(validateMessageBody(body as unknown as Record<string, unknown>, true)).toBeNull();
    const short = boardMessageBody(
      view(rows.map((entry) => ({ ...entry, goal: 'short', lastActivity: '' }))),
    );
    expect(short.embeds[0]!.fields).toHaveLength(25);
    expect(short.embeds[0]!.fields!.at(-1)).toEqual({ name: '…', value: 'and 16 more tasks' });
  });

  it('colours a settled board by outcome and drops its buttons', () => {
    const colour = (statuses: string[]) =>
      boardMessageBody(
        view(
          statuses.map((status, index) => row(`t_abcd${index}`, status)),
          true,
        ),
      ).embeds[0]!.color;
    expect(colour(['completed', 'completed'])).toBe(boardColours.completed);
    expect(colour(['completed', 'timed_out'])).toBe(boardColours.failed);
    expect(colour(['cancelled'])).toBe(boardColours.stopped);
    const settled = boardMessageBody(view([row('t_abcd1', 'completed')], true));
    expect(settled.components).toEqual([]);
    expect(settled.embeds[0]!.description).toBe('1 completed · all done');
    expect(boardMessageBody(view([row('t_abcd1', 'queued')])).embeds[0]!.color).toBe(boardColours.queued);
  });

  it('parses only its own button ids', () => {
    expect(parseBoardButtonId('baton:cancel:t_7k2m9q')).toEqual({ action: 'cancel', taskId: 't_7k2m9q' });
    expect(parseBoardButtonId('baton:refresh:t_7k2m9q')).toEqual({ action: 'refresh', taskId: 't_7k2m9q' });
    expect(parseBoardButtonId('baton:delete:t_7k2m9q')).toBeNull();
    expect(parseBoardButtonId('baton:cancel:../etc')).toBeNull();
    expect(parseBoardButtonId('other:cancel:t_7k2m9q')).toBeNull();
  });
});

describe('Discord text helpers', () => {
  it('names a thread from the first words, without mentions or code, within 100 characters', () => {
    expect(threadNameFor('<@123>  check the **deploy**\nlogs ```ts\ncode\n``` now', 'baton: ')).toBe(
      'baton: check the deploy logs now',
    );
    expect(threadNameFor('<@123>', '')).toBe('Conversation');
    const long = threadNameFor('word '.repeat(60), 'prefix: ');
    expect(long.length).toBeLessThanOrEqual(100);
    expect(long.endsWith('…')).toBe(true);
  });

  it('never halves a surrogate pair when cutting', () => {
    const cut = cutText(`${'a'.repeat(8)}😀😀`, 10);
    expect(cut).toBe(`${'a'.repeat(8)}…`);
    expect(cutText('short', 10)).toBe('short');
  });

  it('strips mentions of the bot and its role, and keeps other mentions', () => {
    expect(stripBotMentions('<@42> hi <@!42> and <@7> <@&9>', '42', ['9'])).toBe('hi and <@7>');
  });
});

describe('discord.js failures as PlatformSendError', () => {
  const request = { body: undefined, files: undefined };
  it('sorts failures by whether a retry is safe', () => {
    const rateLimited = new RateLimitError({
      timeToReset: 1200,
      limit: 5,
      method: 'POST',
      hash: 'h',
      url: 'u',
      route: '/channels/:id/messages',
      majorParameter: '1',
      global: false,
      retryAfter: 1200,
      sublimitTimeout: 0,
      scope: 'user',
    });
    expect(toPlatformSendError(rateLimited, 'posting')).toMatchObject({
      retryable: true,
      retryAfterMs: 1200,
      code: 'platform_rate_limited',
    });
    const forbidden = new DiscordAPIError(
      { code: 50013, message: 'Missing Permissions' },
      50013,
      403,
      'POST',
      'u',
      request,
    );
    expect(toPlatformSendError(forbidden, 'posting')).toMatchObject({
      retryable: false,
      code: 'platform_send_failed',
    });
    expect(toPlatformSendError(forbidden, 'posting').message).toContain('Missing Permissions');
    const limited = new DiscordAPIError(
      { code: 0, message: 'slow down', retry_after: 2.5 } as never,
      0,
      429,
      'POST',
      'u',
      request,
    );
    expect(toPlatformSendError(limited, 'posting')).toMatchObject({ retryable: true, retryAfterMs: 2500 });
    const serverError = new HTTPError(502, 'Bad Gateway', 'POST', 'u', request);
    expect(toPlatformSendError(serverError, 'posting')).toMatchObject({ retryable: true });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(toPlatformSendError(reset, 'posting')).toMatchObject({ retryable: true });
    const aborted = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
    expect(toPlatformSendError(aborted, 'posting')).toMatchObject({ retryable: true });
    expect(toPlatformSendError(new TypeError('bug'), 'posting')).toMatchObject({ retryable: false });
  });
});

describe('retry nonces', () => {
  it('reuse the nonce of a failed attempt once, and never for a post that succeeded', () => {
    const nonces = new RetryNonces();
    const first = nonces.take('k', 0);
    expect(nonces.take('k', 0)).not.toBe(first);
    nonces.rememberFailure('k', first, 0);
    expect(nonces.take('k', 1000)).toBe(first);
    expect(nonces.take('k', 1000)).not.toBe(first);
    nonces.rememberFailure('k', first, 0);
    expect(nonces.take('k', 10 * 60_000)).not.toBe(first);
    expect(first.length).toBeLessThanOrEqual(25);
  });
});

describe('discordAdapterFromEnv', () => {
  const dependencies = { logger: createSilentLogger() };
  const config = { guild_ids: [], thread_name_prefix: '' };

  it('is null without DISCORD_TOKEN and needs DISCORD_APPLICATION_ID with it', () => {
    expect(discordAdapterFromEnv({}, config, dependencies)).toBeNull();
    expect(discordAdapterFromEnv({ DISCORD_TOKEN: '  ' }, config, dependencies)).toBeNull();
    const secret = 'MTIz.secret-token-value';
    const missing = () => discordAdapterFromEnv({ DISCORD_TOKEN: secret }, config, dependencies);
    expect(missing).toThrow(/DISCORD_APPLICATION_ID/);
    expect(() => missing()).not.toThrow(new RegExp(secret));
    expect(() =>
      discordAdapterFromEnv(
        { DISCORD_TOKEN: secret, DISCORD_APPLICATION_ID: 'my-app' },
        config,
        dependencies,
      ),
    ).toThrow(/snowflake/);
    const adapter = discordAdapterFromEnv(
      {
        DISCORD_TOKEN: secret,
        DISCORD_APPLICATION_ID: '123456789012345678',
        DISCORD_API_URL: 'http://127.0.0.1:9/api',
      },
      config,
      dependencies,
    );
    expect(adapter?.platform).toBe('discord');
    expect(adapter?.limits.maxMessageChars).toBe(2000);
    expect(adapter?.isHealthy()).toBe(false);
    expect(JSON.stringify(adapter)).not.toContain(secret);
  });
});
