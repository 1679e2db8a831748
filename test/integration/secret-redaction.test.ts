import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import { gatewayParts } from '../../src/cli/compose-gateway.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { Gateway as GatewayClass } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/logging/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { type FakeDiscordServer, startFakeDiscordServer } from '../fakes/fake-discord-server.ts';
import { errorReply, type RecordedRequest } from '../fakes/fake-openai-server.ts';
import { eventCallback, mentionEvent, postToSlackApp } from '../fakes/fake-slack-payloads.ts';
import {
  type FakeSlackServer,
  fakeSlackWorkspace,
  startFakeSlackServer,
} from '../fakes/fake-slack-server.ts';
import { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { eventually, testApiKey, testCaller, testConfigLayer } from '../support/baton-harness.ts';
import { inboundMessage } from '../support/gateway-harness.ts';
import { useTestEnvironment } from '../support/test-environment.ts';

const { fake, redis } = useTestEnvironment();

// Every kind of configured secret. The ones not shaped like a known token (sk-…, xoxb-…) can only be
// caught because the config registered them.
const secrets = {
  defaultRouteKey: testApiKey,
  backupRouteKey: 'backup-route-key-9f8e7d6c5b4a3210',
  consoleToken: 'Console-Token-from-ENV-7c1e9a55b2d04f63',
  referencedValue: 'referenced-by-config-5d2b8e1f0a9c',
  slackBotToken: fakeSlackWorkspace.botToken,
  slackSigningSecret: fakeSlackWorkspace.signingSecret,
  discordToken: 'discord-token-that-is-not-shaped-like-one-0123',
};
const env: NodeJS.ProcessEnv = {
  BATON_TEST_KEY: secrets.defaultRouteKey,
  BACKUP_KEY: secrets.backupRouteKey,
  BATON_CONSOLE_TOKEN: secrets.consoleToken,
  THREAD_PREFIX_VALUE: secrets.referencedValue,
  SLACK_BOT_TOKEN: secrets.slackBotToken,
  SLACK_SIGNING_SECRET: secrets.slackSigningSecret,
  DISCORD_TOKEN: secrets.discordToken,
};
const everySecret = Object.values(secrets);

const lines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});
const logger = createLogger({ level: 'trace', destination: capture });

/** The key a request carried, as the model server saw it. */
const keyOf = (request: RecordedRequest) => (request.authorization ?? '').replace(/^Bearer\s+/, '');

let runtime: BatonRuntime;
let gateway: Gateway;
let slack: FakeSlackServer;
let slackAdapter: SlackAdapter;
let discord: FakeDiscordServer & { opsChannelId: string };
const adapter = new RecordingAdapter();
const metrics = createMetrics();

beforeAll(async () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-secrets-'));
  const file = path.join(directory, 'baton.yaml');
  writeFileSync(
    file,
    [
      'console:',
      '  token: ${BATON_CONSOLE_TOKEN}',
      'discord:',
      '  thread_name_prefix: ${THREAD_PREFIX_VALUE}',
    ].join('\n'),
  );
  const layer = testConfigLayer(fake, {
    models: {
      call_timeout_s: 5,
      max_retries: 0,
      routes: { backup: { model: 'backup-model', base_url: fake.baseURL, api_key_env: ['BACKUP_KEY'] } },
    },
  });
  const config = loadConfig({ env: { ...env, BATON_CONFIG: file }, overrides: layer });
  // A server that echoes the key it was sent, and every other secret, in its error body and headers.
  fake.setHandler((request) =>
    errorReply(401, {
      message: `Incorrect API key provided: ${keyOf(request)}. Also: ${everySecret.join(' ')}`,
      headers: { 'x-echoed-key': keyOf(request), 'x-echoed-secrets': everySecret.join(',') },
    }),
  );
  runtime = new BatonRuntime({
    config,
    redisUrl: redis.url,
    logger,
    env,
    onModelCall: (record) => metrics.recordModelCall(record),
  });
  await runtime.start();
  await runtime.startWorker();
  gateway = new GatewayClass({
    ...gatewayParts(runtime),
    access: { isAllowed: () => true },
    commands: { handle: async (command) => ({ text: command.text, ephemeral: true }) },
    logger,
  });
  gateway.addAdapter(adapter);
  slack = await startFakeSlackServer();
  slackAdapter = new SlackAdapter({
    botToken: secrets.slackBotToken,
    signingSecret: secrets.slackSigningSecret,
    apiUrl: slack.apiUrl,
    config: { ...config.slack, http_host: '127.0.0.1', http_port: 0 },
    logger,
  });
  gateway.addAdapter(slackAdapter);
  discord = await startFakeDiscordServer({ token: secrets.discordToken });
  gateway.addAdapter(
    new DiscordAdapter({
      token: secrets.discordToken,
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
  await runtime?.close(0);
  await slack?.close();
  await discord?.close();
});

function expectNoSecretIn(where: string, text: string): void {
  for (const secret of everySecret) {
    expect(text.includes(secret), `${where} holds a secret: ${text.slice(0, 300)}`).toBe(false);
  }
}

describe('secrets', () => {
  it('never reach a log line, chat, task records and events, or /metrics when servers echo them', async () => {
    // A parent turn: the model server refuses the key and quotes it back.
    await adapter.sink!.onMessage(inboundMessage('secret-thread', 'hello'));
    await eventually(async () => (adapter.posts.length > 0 ? true : undefined), 20_000, 'the failure post');
    // A child on the other route fails the same way.
    const [task] = await runtime.service.dispatch(testCaller('secret-child'), [
      { goal: 'use the backup route', route: 'backup' },
    ]);
    await eventually(
      async () => ((await runtime.store.get(task!.id))?.status === 'failed' ? true : undefined),
      20_000,
      'the child to fail',
    );
    // Both servers really echoed the keys, so the test can fail.
    expect(fake.requests.map(keyOf)).toEqual(
      expect.arrayContaining([secrets.defaultRouteKey, secrets.backupRouteKey]),
    );
    // Slack: the turn fails (the model refuses the key), and posting that fails twice with a server that
    // echoes every secret in its error body and headers, before it goes through.
    slack.failNext('chat.postMessage', { kind: 'echo', status: 500, text: everySecret.join(' ') }, 1);
    slack.failNext('chat.postMessage', { kind: 'echo', status: 200, text: everySecret.join(' ') }, 1);
    const event = mentionEvent({ user: 'UADA', text: 'hello from slack' });
    await postToSlackApp(slackAdapter.url!, eventCallback(event));
    await eventually(
      async () =>
        slack.callsTo('chat.postMessage').filter((call) => call.params.thread_ts === event.ts).length >= 2
          ? true
          : undefined,
      20_000,
      'the slack posts',
    );
    // Discord: the same, with a REST server echoing every secret in its error body and headers.
    discord.failNext({
      method: 'POST',
      path: /\/channels\/\d+\/messages$/,
      status: 500,
      echo: everySecret.join(' '),
    });
    const ada = discord.addUser('Ada');
    const mention = discord.postMessage(
      ada,
      discord.opsChannelId,
      `<@${discord.botUser.id}> hello from discord`,
    );
    await eventually(
      async () => (discord.botMessagesIn(mention.id).length > 0 ? true : undefined),
      20_000,
      'the discord post in the thread',
    );
    // The echoing failures really happened, so the checks below can fail.
    expect(discord.calls.some((call) => call.status === 500)).toBe(true);
    expect(lines.some((line) => line.includes('token rejected: [redacted]'))).toBe(true);
    // Errors logged directly, with secrets deep in causes and aggregates.
    const echoed = new Error(`401 Invalid API key: ${everySecret.join(' ')}`);
    logger.info({ err: new Error('model call failed', { cause: echoed }) }, 'retrying');
    logger.error(
      { err: new AggregateError([echoed, new Error(secrets.consoleToken)], 'all failed') },
      'failed',
    );
    logger.trace({ headers: { 'x-echo': secrets.slackSigningSecret } }, `body: ${secrets.discordToken}`);
    logger.child({ component: 'child-logger' }).warn({ detail: { nested: [secrets.referencedValue] } }, 'x');

    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.some((line) => line.includes('[redacted]'))).toBe(true);
    for (const line of lines) expectNoSecretIn('a log line', line);
    for (const post of adapter.posts) expectNoSecretIn('a chat post', JSON.stringify(post.message));
    for (const message of discord.botMessagesIn(mention.id))
      expectNoSecretIn('a discord post', message.content);
    for (const call of slack.callsTo('chat.postMessage'))
      expectNoSecretIn('a slack post', JSON.stringify(call.params));
    const record = await runtime.store.get(task!.id);
    expect(record!.error).toMatch(/redacted|401/);
    expectNoSecretIn('the task record', JSON.stringify(record));
    expectNoSecretIn('task events', JSON.stringify(await runtime.store.recentEvents(task!.id, 100)));
    expectNoSecretIn('/metrics', await metrics.render());
  });
});
