import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { BatonConfig } from '../../src/config/schema.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { type FakeOpenAIServer, startFakeOpenAIServer } from '../fakes/fake-openai-server.ts';
import { buildTestConfig, createTestRuntime, testConfigLayer, testEnv } from './baton-harness.ts';
import { startTestRedis, type TestRedis } from './redis.ts';

/*
 * Every test file starts servers of its own (files run in parallel). These register the vitest hooks that
 * start them before the file's tests and stop them after, and return stand-ins the file can name at its
 * top: they forward to the servers once the first beforeAll has run, and throw if used before.
 *
 * Call them before the file's own hooks: vitest runs after-hooks last-registered first, so the file's own
 * teardown (gateways, processes, browsers) then runs while its runtimes and servers are still up.
 */

/** This file's own redis-server, started before its tests and stopped after them. */
export function useTestRedis(): TestRedis {
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  const started = () => redis ?? notStartedYet('redis-server');
  return {
    get url() {
      return started().url;
    },
    get client() {
      return started().client;
    },
    stop: () => started().stop(),
  };
}

export interface TestEnvironment {
  /** This file's redis-server; `redis.client` is a connection for assertions. */
  redis: TestRedis;
  /** The fake model; `testConfigLayer(fake)` makes it the default route. */
  fake: FakeOpenAIServer;
  /**
   * Starts a runtime on this file's Redis (default config: `testConfigLayer(fake)`, default env: the test
   * key). It is closed after the test that started it; one started in a beforeAll, after all the tests.
   */
  startRuntime(config?: BatonConfig, env?: NodeJS.ProcessEnv): Promise<BatonRuntime>;
}

export interface TestEnvironmentOptions {
  /** Clears the fake model's handler after each test, once the test's runtimes are closed; default false. */
  clearScriptAfterEach?: boolean;
}

/** This file's own redis-server and fake OpenAI server, and the runtimes it starts on them. */
export function useTestEnvironment(options: TestEnvironmentOptions = {}): TestEnvironment {
  const redis = useTestRedis();
  let server: FakeOpenAIServer | undefined;
  const fake = forwardingFake(() => server ?? notStartedYet('fake OpenAI server'));
  const fileRuntimes: BatonRuntime[] = [];
  const testRuntimes: BatonRuntime[] = [];
  let inTest = false;

  beforeAll(async () => {
    server = await startFakeOpenAIServer();
  });
  beforeEach(() => {
    inTest = true;
  });
  afterEach(async () => {
    inTest = false;
    for (const runtime of testRuntimes.splice(0)) await runtime.close(0);
    if (options.clearScriptAfterEach) fake.setHandler(undefined);
  });
  afterAll(async () => {
    for (const runtime of fileRuntimes.splice(0)) await runtime.close(0);
    await server?.close();
  });

  return {
    redis,
    fake,
    async startRuntime(config = buildTestConfig(testConfigLayer(fake)), env = testEnv()) {
      const runtime = await createTestRuntime(redis.url, config, env);
      (inTest ? testRuntimes : fileRuntimes).push(runtime);
      return runtime;
    },
  };
}

function forwardingFake(started: () => FakeOpenAIServer): FakeOpenAIServer {
  return {
    get baseURL() {
      return started().baseURL;
    },
    get port() {
      return started().port;
    },
    get requests() {
      return started().requests;
    },
    setHandler: (handler) => started().setHandler(handler),
    enqueue: (...replies) => started().enqueue(...replies),
    waitForRequests: (count, timeoutMs) => started().waitForRequests(count, timeoutMs),
    close: () => started().close(),
  };
}

function notStartedYet(what: string): never {
  throw new Error(`this file's ${what} starts in beforeAll; use it in hooks and tests, not at load time`);
}
