import type {
  ChatCommand,
  CommandReply,
  ConversationRef,
  GatewaySink,
  InboundMessage,
} from '../../src/gateway/chat-adapter.ts';
import { sessionKeyOf } from '../../src/gateway/chat-adapter.ts';

/** A gateway stand-in that records what an adapter pushed into it, for adapter tests. */
export class RecordingSink implements GatewaySink {
  readonly messages: InboundMessage[] = [];
  readonly commands: ChatCommand[] = [];
  readonly knownThreads = new Set<string>();
  readonly boardRefreshes: ConversationRef[] = [];
  queuedBehind = 0;
  refusal: string | null = null;
  /** How commands are answered; by default `did: <text>`, ephemeral. */
  answer: (command: ChatCommand) => CommandReply = (command) => ({
    text: `did: ${command.text}`,
    ephemeral: true,
  });

  async onMessage(message: InboundMessage) {
    this.messages.push(message);
    return this.refusal
      ? { accepted: false, queuedBehind: 0, refusal: this.refusal }
      : { accepted: true, queuedBehind: this.queuedBehind };
  }

  async onCommand(command: ChatCommand): Promise<CommandReply> {
    this.commands.push(command);
    return this.answer(command);
  }

  async knowsThread(ref: ConversationRef): Promise<boolean> {
    return this.knownThreads.has(sessionKeyOf(ref));
  }

  async claimThread(ref: ConversationRef): Promise<void> {
    this.knownThreads.add(sessionKeyOf(ref));
  }

  async refreshBoard(ref: ConversationRef): Promise<void> {
    this.boardRefreshes.push(ref);
  }
}
