import { gatewayParts } from '../../src/cli/compose-gateway.ts';
import { AccessPolicy } from '../../src/gateway/access-policy.ts';
import type { ChatCommand, CommandReply, InboundMessage } from '../../src/gateway/chat-adapter.ts';
import { CommandRouter } from '../../src/gateway/command-router.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { createSilentLogger } from '../../src/logging/logger.ts';
import type { BatonRuntime } from '../../src/runtime/baton-runtime.ts';
import { RecordingAdapter } from '../fakes/recording-adapter.ts';

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
