import type {
  ChatAdapter,
  ChatCommand,
  ChatUser,
  CommandReply,
  ConversationRef,
  GatewaySink,
  InboundMessage,
  OutboundMessage,
  TaskSuggestion,
  TaskSuggestionRequest,
} from '../../src/gateway/chat-adapter.ts';
import { sessionKeyOf } from '../../src/gateway/chat-adapter.ts';
import { chunkForPlatform } from '../../src/gateway/platform-chunks.ts';
import { MemoryPostProgress } from '../../src/gateway/post-progress.ts';
import { Thread } from '../../src/gateway/thread.ts';
import { chatCommandText, typedCommandText } from '../../src/gateway/typed-command.ts';
import { redactSecrets } from '../../src/logging/redact-secrets.ts';

/** A gateway stand-in that records what an adapter pushed into it, for adapter tests. */
export class RecordingSink implements GatewaySink {
  readonly messages: InboundMessage[] = [];
  readonly commands: ChatCommand[] = [];
  readonly knownThreads = new Set<string>();
  readonly boardRefreshes: ConversationRef[] = [];
  /** What adapters posted through the sink (command answers), and the notes for one person. */
  readonly posts: Array<{ ref: ConversationRef; message: OutboundMessage }> = [];
  readonly notices: Array<{ ref: ConversationRef; userId: string; text: string }> = [];
  /** With an adapter set, posts and notices go out through a Thread on it, as the gateway's do. */
  adapter: ChatAdapter | null = null;
  private readonly progress = new MemoryPostProgress();
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

  async post(ref: ConversationRef, message: OutboundMessage): Promise<void> {
    this.posts.push({ ref, message });
    if (this.adapter) await new Thread(this.adapter, ref, { progress: this.progress }).post(message);
  }

  /** Suggestions asked for, and what they answer (none by default). */
  readonly suggestionRequests: Array<{
    ref: ConversationRef;
    user: ChatUser;
    request: TaskSuggestionRequest;
  }> = [];
  suggestions: TaskSuggestion[] = [];

  async suggestTasks(ref: ConversationRef, user: ChatUser, request: TaskSuggestionRequest) {
    this.suggestionRequests.push({ ref, user, request });
    return this.suggestions.slice(0, request.limit);
  }

  /** The access rule adapters ask before acting; everyone by default. */
  allows: (user: ChatUser, ref: ConversationRef) => boolean = () => true;

  isAllowed(user: ChatUser, ref: ConversationRef): boolean {
    return this.allows(user, ref);
  }

  commandTextOf(text: string, options: { slashWords?: boolean } = {}): string | null {
    return options.slashWords ? typedCommandText(text) : chatCommandText(text);
  }

  /** Split as a Thread on the adapter would; without an adapter, as Discord's 2,000 characters. */
  chunksFor(ref: ConversationRef, markdown: string): string[] {
    if (this.adapter) return new Thread(this.adapter, ref, { progress: this.progress }).chunksOf(markdown);
    return chunkForPlatform(redactSecrets(markdown), 2000);
  }

  async notice(ref: ConversationRef, userId: string, text: string): Promise<void> {
    this.notices.push({ ref, userId, text });
    if (this.adapter) await new Thread(this.adapter, ref, { progress: this.progress }).notice(userId, text);
  }
}
