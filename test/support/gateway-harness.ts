import { afterEach } from 'vitest';
import { gatewayParts } from '../../src/cli/compose-gateway.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import type { ChatCommand, CommandReply, InboundMessage } from '../../src/gateway/chat-adapter.ts';
import { CommandRouter } from '../../src/gateway/command-router.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { RecordingAdapter } from '../fakes/recording-adapter.ts';
import { buildTestConfig, createTestRuntime, testConfigLayer } from './baton-harness.ts';
import type { TestEnvironment } from './test-environment.ts';

/** A gateway with one recording adapter, everyone allowed, and commands answered by a stub. */
export async function startTestGateway(
  runtime: BatonRuntime,
  adapter = new RecordingAdapter(),
): Promise<{ gateway: Gateway; adapter: RecordingAdapter }> {
  const gateway = new Gateway({
    ...gatewayParts(runtime),
    access: { isAllowed: () => true },
    commands: {
      handle: async (command: ChatCommand): Promise<CommandReply> => ({
        text: command.text,
        ephemeral: true,
      }),
    },
    logger: createSilentLogger(),
  });
  gateway.addAdapter(adapter);
  await gateway.start();
  return { gateway, adapter };
}

export interface TestGateways {
  /** A runtime on the file's Redis (default config: `testConfigLayer(fake)`), with a worker unless told. */
  newRuntime(layer?: Record<string, unknown>, withWorker?: boolean): Promise<BatonRuntime>;
  /** A test gateway (startTestGateway) on `runtime`. */
  newGateway(
    runtime: BatonRuntime,
    adapter?: RecordingAdapter,
  ): Promise<{ gateway: Gateway; adapter: RecordingAdapter }>;
  /** Leaves a "killed" runtime and its gateway out of the teardown: a dead process is not stopped gracefully. */
  forget(runtime: BatonRuntime, gateway?: Gateway): void;
}

/**
 * Runtimes and test gateways made in a test, stopped after it (gateways first). Kept here rather than by
 * startRuntime: a test can leave a "killed" gateway and runtime out of the teardown.
 */
export function useTestGateways({ redis, fake }: Pick<TestEnvironment, 'redis' | 'fake'>): TestGateways {
  const runtimes: BatonRuntime[] = [];
  const gateways: Gateway[] = [];
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.stop().catch(() => undefined);
    for (const runtime of runtimes.splice(0)) await runtime.close(0).catch(() => undefined);
  });
  return {
    async newRuntime(layer = testConfigLayer(fake), withWorker = true) {
      const runtime = await createTestRuntime(redis.url, buildTestConfig(layer));
      runtimes.push(runtime);
      if (withWorker) await runtime.startWorker();
      return runtime;
    },
    async newGateway(runtime, adapter = new RecordingAdapter()) {
      const started = await startTestGateway(runtime, adapter);
      gateways.push(started.gateway);
      return started;
    },
    forget(runtime, gateway) {
      if (gateway) gateways.splice(gateways.indexOf(gateway), 1);
      runtimes.splice(runtimes.indexOf(runtime), 1);
    },
  };
}

/** The task results (`**Task t_…**` posts) an adapter made in a thread. */
export const resultPosts = (adapter: RecordingAdapter, thread: string): string[] =>
  adapter.textsIn(thread).filter((text) => text.includes('**Task t_'));

/** A gateway with one recording adapter, the runtime's real access policy and the real command router. */
export async function startRoutedGateway(
  runtime: BatonRuntime,
  adapter = new RecordingAdapter(),
): Promise<{ gateway: Gateway; adapter: RecordingAdapter }> {
  const access = new AccessPolicy(runtime.config.access);
  const gateway = new Gateway({
    ...gatewayParts(runtime),
    access,
    commands: new CommandRouter({ service: runtime.service, store: runtime.store, access }),
    logger: createSilentLogger(),
  });
  gateway.addAdapter(adapter);
  await gateway.start();
  return { gateway, adapter };
}

let messageCounter = 0;

export function inboundMessage(thread: string, text: string, userId = 'u1'): InboundMessage {
  messageCounter += 1;
  return {
    ref: { platform: 'test', channel: 'c1', thread },
    user: { id: userId, name: userId === 'u1' ? 'Ada' : userId, roleIds: [] },
    text,
    messageId: `msg-${messageCounter}`,
    eventId: `event-${process.pid}-${messageCounter}`,
  };
}
