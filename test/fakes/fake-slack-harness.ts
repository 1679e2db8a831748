import { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import { mergeLayers } from '../../src/config/load-config.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import { CommandRouter } from '../../src/gateway/command-router.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { buildTestConfig, createTestRuntime, testConfigLayer } from '../support/baton-harness.ts';
import type { FakeOpenAIServer } from './fake-openai-server.ts';
import { type FakeSlackServer, fakeSlackWorkspace } from './fake-slack-server.ts';

/** People of the fake workspace: Ada and Bob are allowed (owner-only task control), Mallory is not. */
export const slackPeople = {
  ada: { id: 'UADA', name: 'Ada' },
  bob: { id: 'UBOB', name: 'Bob' },
  mallory: { id: 'UMAL', name: 'Mallory' },
} as const;

export interface SlackBaton {
  runtime: BatonRuntime;
  gateway: Gateway;
  adapter: SlackAdapter;
  stop(): Promise<void>;
}

/**
 * Baton as `baton start` wires it, with Slack as its one platform: a runtime with a worker on the test's
 * Redis and fake model, the real Gateway, CommandRouter and AccessPolicy, and the Slack adapter on Bolt
 * against the fake Slack, in Socket Mode or HTTP mode (on 127.0.0.1, a free port).
 */
export async function startSlackBaton(options: {
  redisUrl: string;
  openai: FakeOpenAIServer;
  slack: FakeSlackServer;
  mode: 'socket' | 'http';
  overrides?: Record<string, unknown>;
}): Promise<SlackBaton> {
  const { slack } = options;
  for (const person of Object.values(slackPeople)) slack.setUserName(person.id, person.name);
  const layer = mergeLayers(
    {
      access: { allowed_users: [slackPeople.ada.id, slackPeople.bob.id], task_control: 'owner' },
      slack: { http_host: '127.0.0.1', http_port: 0 },
      gateway: { board_interval_ms: 300 },
    },
    options.overrides ?? {},
  );
  const runtime = await createTestRuntime(
    options.redisUrl,
    buildTestConfig(testConfigLayer(options.openai, layer)),
  );
  await runtime.startWorker();
  const logger = createSilentLogger();
  const access = new AccessPolicy(runtime.config.access);
  const gateway = new Gateway({
    runtime,
    access,
    commands: new CommandRouter({ service: runtime.service, store: runtime.store, access, logger }),
    logger,
  });
  const adapter = new SlackAdapter({
    botToken: fakeSlackWorkspace.botToken,
    ...(options.mode === 'socket'
      ? { appToken: fakeSlackWorkspace.appToken }
      : { signingSecret: fakeSlackWorkspace.signingSecret }),
    apiUrl: slack.apiUrl,
    config: runtime.config.slack,
    logger,
  });
  gateway.addAdapter(adapter);
  await gateway.start();
  return {
    runtime,
    gateway,
    adapter,
    async stop() {
      await gateway.stop();
      await runtime.close(0);
    },
  };
}
