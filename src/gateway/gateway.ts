import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BatonConfig } from '../config/schema.ts';
import { BatonError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import { taskKeySeconds, ttlSeconds } from '../redis/key-lifetimes.ts';
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
  OutboundMessage,
  TaskSuggestion,
  TaskSuggestionRequest,
} from './chat-adapter.ts';
import { sessionKeyOf } from './chat-adapter.ts';
import type { DeliveryOutcome } from './delivery/delivery-dependencies.ts';
import { DeliveryService } from './delivery/delivery-service.ts';
import { EndingsPump } from './delivery/endings-pump.ts';
import { historyNoteText } from './delivery/result-text.ts';
import type { ParentAgent } from './parent-agent.ts';
import { RedisPostProgress } from './post-progress.ts';
import { SessionTurnQueue, type TurnSlot } from './session-turn-queue.ts';
import { TaskBoards } from './task-boards.ts';
import { suggestTasks } from './task-suggestions.ts';
import { noPrivateThreadMembership, type PrivateThreadMembership } from './task-visibility.ts';
import { Thread } from './thread.ts';
import { parseTurnItem, type TurnItem } from './turn-item.ts';
import { turnStatusFor } from './turn-status.ts';
import { chatCommandText, typedCommandText } from './typed-command.ts';

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
 * turns in order (one at a time per thread, across gateway processes), streams replies, keeps task boards
 * live and delivers every task result to the thread it came from, exactly once. Everything it posts goes
 * through a Thread (`threadFor`), the one outbound path.
 */
export class Gateway implements GatewaySink {
  readonly id = randomUUID();
  private readonly adapters = new Map<string, ChatAdapter>();
  private readonly turns: SessionTurnQueue<TurnItem>;
  private readonly boards: TaskBoards;
  private readonly delivery: DeliveryService;
  private readonly pump: EndingsPump;
  private readonly stopController = new AbortController();
  private readonly progress: RedisPostProgress;

  constructor(private readonly options: GatewayOptions) {
    const { config, sessions, tasks, keys, redis, logger } = options;
    this.progress = new RedisPostProgress(
      redis,
      keys,
      ttlSeconds('postProgress', config.redis.retention_days * 24 * 3600),
      // Never past the retention: nothing of a thread outlives it.
      taskKeySeconds('threadMessages', config.redis.retention_days * 24 * 3600),
    );
    this.turns = new SessionTurnQueue<TurnItem>(
      sessions.turns,
      (sessionKey, item, slot) => this.runTurn(sessionKey, item, slot),
      {
        maxConcurrentSessions: config.gateway.max_concurrent_turns,
        logger,
        parse: parseTurnItem,
      },
    );
    const threadFor = (ref: ConversationRef) => this.threadFor(ref);
    this.boards = new TaskBoards({
      boards: sessions.boards,
      store: tasks,
      signals: options.signals,
      threadFor,
      intervalMs: config.gateway.board_interval_ms,
      logger,
    });
    this.delivery = new DeliveryService(options.connect('deliveries'), {
      config,
      redis,
      keys,
      store: tasks,
      history: sessions.history,
      threadFor,
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

  /** The one outbound path to a conversation; undefined when no adapter of its platform runs here. */
  threadFor(ref: ConversationRef): Thread | undefined {
    const adapter = this.adapters.get(ref.platform);
    if (!adapter) return undefined;
    return new Thread(adapter, ref, {
      progress: this.progress,
      signal: this.stopController.signal,
      streamIntervalMs: this.options.config.gateway.stream_interval_ms,
      logger: this.options.logger,
    });
  }

  async post(ref: ConversationRef, message: OutboundMessage): Promise<void> {
    await this.requireThread(ref).post(message);
  }

  async notice(ref: ConversationRef, userId: string, markdown: string): Promise<void> {
    if (!(await this.requireThread(ref).notice(userId, markdown))) {
      throw new BatonError('invalid_arguments', `${ref.platform} has no notes only one person sees`);
    }
  }

  async suggestTasks(
    ref: ConversationRef,
    user: ChatUser,
    request: TaskSuggestionRequest,
  ): Promise<TaskSuggestion[]> {
    if (!this.options.access.isAllowed(user, ref)) return [];
    const channelTasks = await this.options.tasks.listChannel(ref.platform, ref.channel, 100);
    return suggestTasks(
      channelTasks,
      ref,
      this.membershipOf(ref, user.id) ?? noPrivateThreadMembership,
      request,
    );
  }

  isAllowed(user: ChatUser, ref: ConversationRef): boolean {
    return this.options.access.isAllowed(user, ref);
  }

  commandTextOf(text: string, options: { slashWords?: boolean } = {}): string | null {
    return options.slashWords ? typedCommandText(text) : chatCommandText(text);
  }

  chunksFor(ref: ConversationRef, markdown: string): string[] {
    return this.requireThread(ref).chunksOf(markdown);
  }

  private requireThread(ref: ConversationRef): Thread {
    const thread = this.threadFor(ref);
    if (!thread) throw new BatonError('invalid_arguments', `no ${ref.platform} adapter runs in this gateway`);
    return thread;
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
    return this.options.commands.handle(command, this.membershipOf(command.ref, command.user.id));
  }

  /** Only the platform knows who is in a private thread: the asker's adapter answers, where it can. */
  private membershipOf(ref: ConversationRef, userId: string): PrivateThreadMembership | undefined {
    const adapter = this.adapters.get(ref.platform);
    return adapter?.isThreadMember
      ? (thread) => adapter.isThreadMember!({ ...ref, thread }, userId)
      : undefined;
  }

  private async runTurn(sessionKey: string, item: TurnItem, slot: TurnSlot): Promise<void> {
    const { config, sessions, tasks, logger } = this.options;
    const ref = item.kind === 'message' ? item.message.ref : item.ref;
    const thread = this.threadFor(ref);
    if (!thread) {
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
      await thread.post(
        {
          kind: 'text',
          text:
            `⚠️ ${origin.userName ?? origin.user}, you already have ${lease.inProgress} turn(s) in progress; at ` +
            `most ${limit} per person at once (quotas.max_turns_per_user). I did not act on this message: send ` +
            'it again once one of them has answered.',
        },
        { key: `refusal:${sessionKey}:${turnId}` },
      );
      return;
    }
    try {
      await this.runAdmittedTurn(sessionKey, turnId, thread, origin, actor, input, slot);
    } finally {
      if (lease?.granted) await lease.release().catch(() => undefined);
    }
  }

  private async runAdmittedTurn(
    sessionKey: string,
    turnId: string,
    thread: Thread,
    origin: TaskOrigin,
    actor: TaskActor,
    input: string,
    slot: TurnSlot,
  ): Promise<void> {
    const { sessions, parent, logger, config } = this.options;
    const { adapter, ref } = thread;
    // What this turn already recorded survives a crash too: a replay neither appends nor posts twice.
    const historyAppended = sessions.turnRecords.historyAppended(sessionKey, turnId);
    const typing = setInterval(() => void adapter.showTyping?.(ref).catch(() => undefined), typingEveryMs);
    void adapter.showTyping?.(ref).catch(() => undefined);
    // The reply grows in its messages; a turn resumed after a crash finishes the messages its stream began.
    const replyKey = `reply:${sessionKey}:${turnId}`;
    const stream = thread.openStream({
      key: replyKey,
      resume: await sessions.checkpoints.loadStream(sessionKey, turnId),
      onRecord: (record) => sessions.checkpoints.saveStream(sessionKey, { turnId, ...record }),
      recipient: { userId: origin.user, ...(actor.workspaceId ? { teamId: actor.workspaceId } : {}) },
    });
    const streaming = config.gateway.stream_replies;
    if (streaming) stream.setStatus('is thinking…');
    try {
      const result = await parent.runTurn(
        sessionKey,
        turnId,
        origin,
        { role: 'user', content: input },
        this.stopController.signal,
        actor,
        slot,
        streaming
          ? {
              onText: (text) => stream.setText(text),
              onToolBatch: (calls) => stream.setStatus(turnStatusFor(calls)),
            }
          : {},
      );
      const firstRecord = await sessions.history.appendOnce(sessionKey, result.newMessages, historyAppended);
      // The reply is posted only after the history is appended, so only a replay needs to ask.
      if (firstRecord || !(await sessions.turnRecords.replyPosted(sessionKey, turnId))) {
        await stream.finish(result.reply || '(no reply)');
        await sessions.turnRecords.markReplyPosted(sessionKey, turnId);
      } else {
        stream.abandon();
      }
    } catch (error) {
      if (this.stopController.signal.aborted) {
        // Left as it is, cursor and all: the gateway that resumes the turn finishes that message.
        stream.abandon();
        throw error;
      }
      logger.error({ err: error, sessionKey }, 'parent turn failed');
      // Keep what the person said, so the next turn still sees it.
      await sessions.history.appendOnce(sessionKey, [{ role: 'user', content: input }], historyAppended);
      const reason = error instanceof Error ? error.message : String(error);
      // Replaces a half-streamed reply too: no half message is left looking final.
      await stream.finish(`⚠️ I couldn't finish that turn: ${redactSecrets(reason)}`);
    } finally {
      clearInterval(typing);
      // Whatever happened, the thread's stream is closed (a no-op once finished).
      stream.abandon();
    }
    await parent.finishTurn(sessionKey);
  }
}
