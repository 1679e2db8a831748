import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDiscordServer, startFakeDiscordServer } from '../fakes/fake-discord-server.ts';
import {
  type FakeSlackServer,
  fakeSlackWorkspace,
  startFakeSlackServer,
} from '../fakes/fake-slack-server.ts';
import {
  type BatonProcess,
  eventually,
  spawnBatonProcess,
  testConfigLayer,
} from '../support/baton-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { redis, fake } = useTestEnvironment();
let discord: FakeDiscordServer;
let slack: FakeSlackServer;
let gateway: BatonProcess | null = null;

beforeAll(async () => {
  discord = await startFakeDiscordServer();
  slack = await startFakeSlackServer();
});
afterAll(async () => {
  gateway?.child.kill('SIGKILL');
  await discord.close();
  await slack.close();
});

describe('baton gateway', () => {
  it('starts the Discord and Slack adapters when their credentials are in the environment', async () => {
    gateway = await spawnBatonProcess(
      'gateway',
      redis.url,
      testConfigLayer(fake, { console: { port: 0 }, discord: { guild_ids: [discord.guildId] } }),
      {
        DISCORD_TOKEN: discord.token,
        DISCORD_APPLICATION_ID: discord.applicationId,
        DISCORD_API_URL: discord.apiUrl,
        SLACK_BOT_TOKEN: fakeSlackWorkspace.botToken,
        SLACK_APP_TOKEN: fakeSlackWorkspace.appToken,
        SLACK_API_URL: slack.apiUrl,
      },
    );
    // Discord: the slash commands were registered in the configured guild; Slack: Socket Mode opened.
    expect(
      discord.registeredCommands.guilds
        .get(discord.guildId)
        ?.map((command) => command.name)
        .sort(),
    ).toEqual(['ask', 'task', 'tasks', 'usage']);
    expect(slack.callsTo('auth.test').length).toBeGreaterThan(0);
    expect(slack.callsTo('apps.connections.open').length).toBeGreaterThan(0);
    const health = await eventually(async () => {
      const report = (await (await fetch(`${gateway!.consoleUrl}/healthz`)).json()) as {
        ok: boolean;
        adapters: Record<string, string>;
      };
      return report.ok ? report : undefined;
    }, 15_000);
    expect(health.adapters).toEqual({ console: 'ok', discord: 'ok', slack: 'ok' });
    // Secrets never reach the logs.
    for (const secret of [discord.token, fakeSlackWorkspace.botToken, fakeSlackWorkspace.appToken]) {
      expect(gateway.output()).not.toContain(secret);
    }
  });
});
