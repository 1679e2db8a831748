import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BatonConfig } from '../config/schema.ts';
import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { SessionHistory } from '../sessions/session-history.ts';
import type { SessionStore } from '../sessions/session-store.ts';
import { originFor, ownerOf, type TaskActor } from '../tasks/task-access.ts';
import type { TaskOrigin, TaskStatus } from '../tasks/task-record.ts';
import type { TaskSignals } from '../tasks/task-signals.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import { toWellFormed, wellFormedDeep } from '../well-formed-text.ts';
import type {
  ChatAdapter,
  ChatCommand,
  ChatUser,
  CommandReply,
  ConversationRef,
  GatewaySink,
  InboundMessage,
} from './chat-adapter.ts';
import { sessionKeyOf } from './chat-adapter.ts';
import { chunkText } from './chunk-text.ts';
import { type DeliveryOutcome, DeliveryService } from './delivery/delivery-service.ts';
import { EndingsPump } from './delivery/endings-pump.ts';
import { historyNoteText } from './delivery/result-text.ts';
import type { ParentAgent } from './parent-agent.ts';
import { sendWithRetry } from './send-with-retry.ts';
import { SessionTurnQueue, type TurnSlot } from './session-turn-queue.ts';
import { TaskBoards } from './task-boards.ts';
import type { PrivateThreadMembership } from './task-visibility.ts';
import { parseTurnItem, type TurnItem } from './turn-item.ts';

export type { TurnItem } from './turn-item.ts';

export interface CommandHandler {
  /** `isMember`: whether the asker is a member of a private thread of the channel (see CommandRouter). */
  handle(command: ChatCommand, isMember?: PrivateThreadMembership): Promise<CommandReply>;
}

export interface AccessCheck {
  isAllowed(user: ChatUser, ref: ConversationRef): boolean;
}

export interface GatewayOptions {
  config: BatonConfig;
  sessions: SessionStore;
  tasks: TaskStore;
  signals: TaskSignals;
  parent: ParentAgent;
  /** Commands connection and key names, for the delivery progress and the endings stream. */
  redis: Redis;
  keys: RedisKeys;
  /** A new connection of the process's own (blocking reads, BullMQ), closed by whoever owns it. */
  connect(name: string): Redis;
  commands: CommandHandler;
  access: AccessCheck;
  logger: Logger;
  onDelivery?(outcome: DeliveryOutcome): void;
  /** Called once per ended top-level task, across all gateways (for metrics). */
  onTaskEnded?(status: TaskStatus): void;
}

const typingEveryMs = 8000;

/**
 * The platform-free gateway: receives messages and commands from every adapter, runs each thread's parent
 * turns in order (one at a time per thread, across gateway processes), posts replies, keeps task boards
 * live and delivers every task result to the thread it came from, exactly once.
 */
export class Gateway implements GatewaySink {
  readonly id = randomUUID();
  private readonly adapters = new Map<string, ChatAdapter>();
  private readonly turns: SessionTurnQueue<TurnItem>;
  private readonly boards: TaskBoards;
  private readonly delivery: DeliveryService;
  private readonly pump: EndingsPump;
  private readonly stopController = new AbortController();

  constructor(private readonly options: GatewayOptions) {
    const { config, sessions, tasks, keys, redis, logger } = options;
    this.turns = new SessionTurnQueue<TurnItem>(
      sessions.turns,
      (sessionKey, item, slot) => this.runTurn(sessionKey, item, slot),
      {
        maxConcurrentSessions: config.gateway.max_concurrent_turns,
        logger,
        parse: parseTurnItem,
      },
    );
    const adapterFor = (platform: string) => this.adapters.get(platform);
    this.boards = new TaskBoards({
      boards: sessions.boards,
      store: tasks,
      signals: options.signals,
      adapterFor,
      intervalMs: config.gateway.board_interval_ms,
      logger,
    });
    this.delivery = new DeliveryService(options.connect('deliveries'), {
      config,
      redis,
      keys,
      store: tasks,
      history: sessions.history,
      adapterFor,
      queueParentTurn: async (ref, sessionKey, taskId) => {
        await this.turns.enqueue(sessionKey, { kind: 'task-ended', taskId, ref });
      },
      logger,
      ...(options.onDelivery ? { onDelivery: options.onDelivery } : {}),
    });
    this.pump = new EndingsPump(
      options.connect('endings'),
      keys,
      this.delivery.queue,
      this.id,
      logger,
      (status) => options.onTaskEnded?.(status),
    );
  }

  /** The threads' conversations with the parent (tests read them). */
  get history(): SessionHistory {
    return this.options.sessions.history;
  }

  addAdapter(adapter: ChatAdapter): void {
    this.adapters.set(adapter.platform, adapter);
  }

  adapterList(): ChatAdapter[] {
    return [...this.adapters.values()];
  }

  async start(): Promise<void> {
    for (const adapter of this.adapters.values()) await adapter.start(this);
    await this.delivery.waitUntilReady();
    await this.pump.start();
    await this.boards.start();
    this.turns.start();
  }

  /** Stops taking work; turns cut short stay queued for another gateway (or the next start). */
  async stop(): Promise<void> {
    this.stopController.abort(new Error('gateway stopping'));
    await this.turns.stop();
    await this.boards.stop();
    await this.pump.stop();
    await this.delivery.close();
    for (const adapter of this.adapters.values()) await adapter.stop();
  }

  async onMessage(
    inbound: InboundMessage,
  ): Promise<{ accepted: boolean; queuedBehind: number; refusal?: string }> {
    // Adapters make their text well-formed; this is the one door every adapter's input passes, so once more.
    const message = wellFormedDeep(inbound);
    if (!this.options.access.isAllowed(message.user, message.ref)) {
      return { accepted: false, queuedBehind: 0, refusal: "You're not allowed to use Baton here." };
    }
    if (!(await this.options.sessions.firstSeen(message.ref.platform, message.eventId))) {
      return { accepted: false, queuedBehind: 0 };
    }
    await this.claimThread(message.ref);
    const queuedBehind = await this.turns.enqueue(sessionKeyOf(message.ref), { kind: 'message', message });
    return { accepted: true, queuedBehind };
  }

  async knowsThread(ref: ConversationRef): Promise<boolean> {
    return this.options.sessions.threads.has(sessionKeyOf(ref));
  }

  /** Also called for every accepted message: a thread is forgotten only after a retention period idle. */
  async claimThread(ref: ConversationRef): Promise<void> {
    await this.options.sessions.threads.touch(sessionKeyOf(ref));
  }

  async refreshBoard(ref: ConversationRef): Promise<void> {
    await this.boards.requestRefresh(sessionKeyOf(ref));
  }

  async onCommand(inbound: ChatCommand): Promise<CommandReply> {
    // The one place a command's text is made well-formed: adapters pass it on as the platform sent it.
    const command = { ...inbound, text: toWellFormed(inbound.text), user: wellFormedDeep(inbound.user) };
    if (
      command.eventId &&
      !(await this.options.sessions.firstSeen(command.ref.platform, `command:${command.eventId}`))
    ) {
      return { text: '', ephemeral: true, duplicate: true };
    }
    // Only the platform knows who is in a private thread: the command's adapter answers for the asker.
    const adapter = this.adapters.get(command.ref.platform);
    const isMember: PrivateThreadMembership | undefined = adapter?.isThreadMember
      ? (thread) => adapter.isThreadMember!({ ...command.ref, thread }, command.user.id)
      : undefined;
    return this.options.commands.handle(command, isMember);
  }

  private async runTurn(sessionKey: string, item: TurnItem, slot: TurnSlot): Promise<void> {
    const { config, sessions, tasks, logger } = this.options;
    const ref = item.kind === 'message' ? item.message.ref : item.ref;
    const adapter = this.adapters.get(ref.platform);
    if (!adapter) {
      logger.warn({ sessionKey }, `no ${ref.platform} adapter in this gateway; turn skipped`);
      return;
    }
    let origin: TaskOrigin;
    let actor: TaskActor;
    let input: string;
    let turnId: string;
    if (item.kind === 'message') {
      const { user, text } = item.message;
      actor = user;
      origin = originFor(ref, user);
      input = `${user.name}: ${text}`;
      turnId = `message-${item.message.eventId}`;
    } else {
      const record = await tasks.get(item.taskId);
      if (!record) return;
      origin = record.origin;
      // The task's ending acts for the person who started it, never for whoever writes in the thread.
      actor = ownerOf(record.origin);
      input = historyNoteText(record);
      turnId = `task-ended-${item.taskId}`;
    }
    // A person's own messages count against their share of turns; task endings are Baton's own work.
    const lease =
      item.kind === 'message'
        ? await sessions.userTurns.acquire(ref.platform, origin.user, `${sessionKey}:${turnId}`)
        : null;
    if (lease && !lease.granted) {
      const limit = config.quotas.max_turns_per_user;
      await this.post(
        adapter,
        ref,
        `⚠️ ${origin.userName ?? origin.user}, you already have ${lease.inProgress} turn(s) in progress; at most ` +
          `${limit} per person at once (quotas.max_turns_per_user). I did not act on this message: send it ` +
          'again once one of them has answered.',
        `refusal:${sessionKey}:${turnId}`,
      );
      return;
    }
    try {
      await this.runAdmittedTurn(sessionKey, turnId, ref, adapter, origin, actor, input, slot);
    } finally {
      if (lease?.granted) await lease.release().catch(() => undefined);
    }
  }

  private async runAdmittedTurn(
    sessionKey: string,
    turnId: string,
    ref: ConversationRef,
    adapter: ChatAdapter,
    origin: TaskOrigin,
    actor: TaskActor,
    input: string,
    slot: TurnSlot,
  ): Promise<void> {
    const { sessions, parent, logger } = this.options;
    // What this turn already recorded survives a crash too: a replay neither appends nor posts twice.
    const historyAppended = sessions.turnRecords.historyAppended(sessionKey, turnId);
    const typing = setInterval(() => void adapter.showTyping?.(ref).catch(() => undefined), typingEveryMs);
    void adapter.showTyping?.(ref).catch(() => undefined);
    try {
      const result = await parent.runTurn(
        sessionKey,
        turnId,
        origin,
        { role: 'user', content: input },
        this.stopController.signal,
        actor,
        slot,
      );
      const firstRecord = await sessions.history.appendOnce(sessionKey, result.newMessages, historyAppended);
      // The reply is posted only after the history is appended, so only a replay needs to ask.
      if (firstRecord || !(await sessions.turnRecords.replyPosted(sessionKey, turnId))) {
        await this.post(adapter, ref, result.reply || '(no reply)', `reply:${sessionKey}:${turnId}`);
        await sessions.turnRecords.markReplyPosted(sessionKey, turnId);
      }
    } catch (error) {
      if (this.stopController.signal.aborted) throw error;
      logger.error({ err: error, sessionKey }, 'parent turn failed');
      // Keep what the person said, so the next turn still sees it.
      await sessions.history.appendOnce(sessionKey, [{ role: 'user', content: input }], historyAppended);
      const reason = error instanceof Error ? error.message : String(error);
      await this.post(adapter, ref, `⚠️ I couldn't finish that turn: ${redactSecrets(reason)}`);
    } finally {
      clearInterval(typing);
    }
    await parent.finishTurn(sessionKey);
  }

  /** Posts a reply in chunks within the platform's limit, retrying what the platform says is retryable. */
  async post(
    adapter: ChatAdapter,
    ref: ConversationRef,
    text: string,
    idempotencyKey?: string,
  ): Promise<void> {
    const chunks = chunkText(redactSecrets(text), adapter.limits.maxMessageChars);
    for (const [index, chunk] of chunks.entries()) {
      const message = {
        kind: 'text' as const,
        text: chunk,
        ...(idempotencyKey ? { idempotencyKey: `${idempotencyKey}:${index}` } : {}),
      };
      await sendWithRetry(() => adapter.send(ref, message), this.stopController.signal);
    }
  }
}
