import { afterAll, beforeAll } from 'vitest';
import { SlackAdapter } from '../../adapters/slack/slack-adapter.ts';
import { composeCommandRouter, gatewayParts } from '../../src/cli/compose-gateway.ts';
import { mergeLayers } from '../../src/config/load-config.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { buildTestConfig, createTestRuntime, testConfigLayer } from '../support/baton-harness.ts';
import { messagesOf } from '../support/model-scripts.ts';
import type { TestEnvironment } from '../support/test-environment.ts';
import {
  type FakeHandler,
  type FakeOpenAIServer,
  type RecordedRequest,
  textReply,
} from './fake-openai-server.ts';
import { type FakeSlackServer, fakeSlackWorkspace, startFakeSlackServer } from './fake-slack-server.ts';

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
    ...gatewayParts(runtime),
    access,
    commands: composeCommandRouter(runtime, access, logger),
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

/** The text of a request's last message: for a parent turn, `Name: what they wrote`. */
export function lastInputOf(request: RecordedRequest): string {
  return String(messagesOf(request).at(-1)?.content ?? '');
}

/** A parent that echoes what it was told, so each reply names its message. */
export const parentEchoes: FakeHandler = (request) => textReply(`Parent heard: ${lastInputOf(request)}`);

/**
 * The fake Slack and Baton on it for a whole test file: started in a beforeAll (with `handler` as the
 * model, and in Socket Mode once the socket is up), stopped after the file's tests. The two values
 * forward to what was started; use them in hooks and tests, not at load time.
 */
export function useSlackBaton(options: {
  environment: Pick<TestEnvironment, 'redis' | 'fake'>;
  mode: 'socket' | 'http';
  handler: FakeHandler;
  overrides?: Record<string, unknown>;
}): { slack: FakeSlackServer; baton: SlackBaton } {
  const { environment, mode, handler, overrides } = options;
  let slack: FakeSlackServer | undefined;
  let baton: SlackBaton | undefined;
  beforeAll(async () => {
    environment.fake.setHandler(handler);
    slack = await startFakeSlackServer();
    baton = await startSlackBaton({
      redisUrl: environment.redis.url,
      openai: environment.fake,
      slack,
      mode,
      ...(overrides ? { overrides } : {}),
    });
    if (mode === 'socket') await slack.waitForSocket(1);
  });
  afterAll(async () => {
    await baton?.stop();
    await slack?.close();
  });
  return { slack: forwardingTo(() => slack, 'fake Slack'), baton: forwardingTo(() => baton, 'Slack Baton') };
}

function forwardingTo<T extends object>(started: () => T | undefined, what: string): T {
  return new Proxy({} as T, {
    get(_, property) {
      const target = started();
      if (!target) throw new Error(`the ${what} starts in beforeAll; use it in hooks and tests`);
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
