import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { BatonConfig } from '../../src/config/schema.ts';
import { AdapterError, listenError } from '../../src/gateway/adapter-error.ts';
import type {
  ChatAdapter,
  ConversationRef,
  GatewaySink,
  OutboundMessage,
  PlatformLimits,
} from '../../src/gateway/chat-adapter.ts';
import type { ConsoleReads } from '../../src/gateway/console-reads.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { ConsoleLiveEvents } from './console-live-events.ts';
import { createConsoleApp } from './console-routes.ts';
import { isLoopbackHost } from './console-security.ts';
import { loadStaticFiles } from './console-static-files.ts';
import {
  type ConsoleStorage,
  ConsoleStore,
  consoleThreadIdPattern,
  type TranscriptEntry,
} from './console-store.ts';
import { TaskTreeReader } from './console-task-tree.ts';

/**
 * What the console is given: its own storage (threads and transcripts in Redis, under Baton's key prefix),
 * the read port for its task, usage and diff pages, and its config.
 */
export interface ConsoleAdapterOptions extends ConsoleStorage {
  config: BatonConfig['console'];
  /** A dedicated connection for the console's pub/sub subscription. */
  subscriberRedis: Redis;
  /** Tasks, usage and workspace diffs for the pages (the gateway's TaskReader). */
  reads: ConsoleReads;
  logger: Logger;
  /** Shown as a badge in the page header, e.g. "offline demo model". */
  modelLabel?: string;
  /** Mounts more routes on the console's server (behind the same token), e.g. /healthz and /metrics. */
  extraRoutes?: (app: Hono) => void;
  /** Mounts routes answered without the token or Host checks, e.g. /healthz for container probes. */
  publicRoutes?: (app: Hono) => void;
  /** Whether Redis answers right now, for the page's banner; default always up. */
  redisState?: () => 'up' | 'down';
  /** Transcript entries kept per thread; default 500. */
  maxEntriesPerThread?: number;
}

/** The local web console: threads like a channel's, the live task tree of every session, steer and cancel. */
export class ConsoleAdapter implements ChatAdapter {
  readonly platform = 'console';
  readonly limits: PlatformLimits = { maxMessageChars: 20_000 };
  private readonly options: ConsoleAdapterOptions;
  private readonly logger: Logger;
  private readonly consoleStore: ConsoleStore;
  private readonly live: ConsoleLiveEvents;
  private readonly taskTree: TaskTreeReader;
  private server: Server | null = null;
  private listening = false;
  private address: string | null = null;

  constructor(options: ConsoleAdapterOptions) {
    this.options = options;
    this.logger = options.logger.child({ adapter: 'console' });
    this.consoleStore = new ConsoleStore({
      redis: options.redis,
      keyPrefix: options.keyPrefix,
      retentionSeconds: options.retentionSeconds,
      requestRecordSeconds: options.requestRecordSeconds,
      ...(options.maxEntriesPerThread ? { maxEntriesPerThread: options.maxEntriesPerThread } : {}),
    });
    this.taskTree = new TaskTreeReader(options.reads, this.consoleStore);
    this.live = new ConsoleLiveEvents({
      subscriber: options.subscriberRedis,
      consoleStore: this.consoleStore,
      taskTree: this.taskTree,
      reads: options.reads,
      logger: this.logger,
    });
  }

  /** e.g. `http://127.0.0.1:8787`, once started. */
  get url(): string | null {
    return this.address;
  }

  async start(sink: GatewaySink): Promise<void> {
    const { host, port, token } = this.options.config;
    if (!isLoopbackHost(host) && !token) {
      throw new AdapterError(
        'config_invalid',
        `console.host ${host} is not a loopback address: set console.token, or bind to 127.0.0.1`,
        { fault: 'user' },
      );
    }
    const app = createConsoleApp({
      consoleStore: this.consoleStore,
      reads: this.options.reads,
      taskTree: this.taskTree,
      live: this.live,
      sink: () => sink,
      logger: this.logger,
      token,
      bindHost: host,
      staticFiles: await loadStaticFiles(),
      modelLabel: this.options.modelLabel ?? null,
      ...(this.options.extraRoutes ? { extraRoutes: this.options.extraRoutes } : {}),
      ...(this.options.publicRoutes ? { publicRoutes: this.options.publicRoutes } : {}),
      ...(this.options.redisState ? { redisState: this.options.redisState } : {}),
    });
    await this.live.start();
    try {
      const server = await new Promise<Server>((resolve, reject) => {
        const created = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(created as Server));
        created.once('error', reject);
      });
      this.server = server;
      this.listening = true;
      server.on('close', () => {
        this.listening = false;
      });
      const bound = server.address() as AddressInfo;
      const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      this.address = `http://${shownHost}:${bound.port}`;
      this.logger.info({ url: this.address, token: token ? 'required' : 'none' }, 'console listening');
    } catch (error) {
      await this.live.stop();
      // A taken port is the user's to fix: one line that says how, not a stack trace.
      throw listenError('the console', host, port, 'set BATON_CONSOLE_PORT to a free port', error);
    }
  }

  async stop(): Promise<void> {
    await this.live.stop();
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Open event streams would hold close() forever.
      server.closeAllConnections();
    });
    this.listening = false;
  }

  async send(ref: ConversationRef, message: OutboundMessage): Promise<{ messageId: string }> {
    const threadId = this.threadOf(ref);
    const idempotencyKey = message.kind === 'board' ? undefined : message.idempotencyKey;
    const entry = await this.consoleStore.append(threadId, entryContent(message), idempotencyKey);
    return { messageId: entry.id };
  }

  async edit(ref: ConversationRef, messageId: string, message: OutboundMessage): Promise<void> {
    const threadId = this.threadOf(ref);
    // A reply streaming into its entry is not an edit to point out ("(edited)").
    const streamed = message.kind === 'text' && message.streamed === true;
    const replaced = await this.consoleStore.replace(threadId, messageId, entryContent(message), {
      markEdited: !streamed,
    });
    if (!replaced) {
      throw new PlatformSendError(`console message ${messageId} is no longer in thread ${threadId}`, {
        retryable: false,
      });
    }
  }

  async delete(ref: ConversationRef, messageId: string): Promise<void> {
    const threadId = this.threadOf(ref);
    if (!(await this.consoleStore.remove(threadId, messageId))) {
      throw new PlatformSendError(`console message ${messageId} is no longer in thread ${threadId}`, {
        retryable: false,
      });
    }
  }

  async showTyping(ref: ConversationRef): Promise<void> {
    await this.consoleStore.publish({ type: 'typing', threadId: this.threadOf(ref) });
  }

  /** Browsers connected to this process's event stream (a gauge for /metrics). */
  get connectedClients(): number {
    return this.live.clientCount;
  }

  isHealthy(): boolean {
    return this.listening;
  }

  private threadOf(ref: ConversationRef): string {
    if (ref.platform !== this.platform || !consoleThreadIdPattern.test(ref.thread)) {
      throw new PlatformSendError(
        `not a console conversation: ${ref.platform}:${ref.channel}:${ref.thread}`,
        {
          retryable: false,
        },
      );
    }
    return ref.thread;
  }
}

function entryContent(message: OutboundMessage): Pick<TranscriptEntry, 'role' | 'text' | 'board' | 'prompt'> {
  switch (message.kind) {
    case 'board':
      return { role: 'board', text: message.fallbackText, board: message.board };
    case 'prompt':
      // The page draws its buttons; they post the same commands as the words typed (see console-routes).
      return { role: 'prompt', text: message.fallbackText, prompt: message.prompt };
    default:
      return { role: 'bot', text: message.text };
  }
}
