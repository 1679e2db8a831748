import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, type Receiver, SocketModeReceiver, webApi } from '@slack/bolt';
import type { BatonConfig } from '../../src/config/schema.ts';
import { AdapterError, describeError } from '../../src/gateway/adapter-error.ts';
import type {
  ChatAdapter,
  ConversationRef,
  GatewaySink,
  OutboundMessage,
  PlatformLimits,
} from '../../src/gateway/chat-adapter.ts';
import type { Logger } from '../../src/logging/logger.ts';
import { registerSecret } from '../../src/logging/redact-secrets.ts';
import { cancelActionId, refreshActionId } from './slack-board-blocks.ts';
import { guardSlackBodies } from './slack-body-guard.ts';
import { boltLoggerFor } from './slack-bolt-logger.ts';
import { type SlackIdentity, SlackInbound, type SlashRespond } from './slack-inbound.ts';
import { mrkdwnLength, SlackPoster, threadTsOf } from './slack-poster.ts';
import { promptActionPattern } from './slack-prompt-blocks.ts';
import { slackErrorCode } from './slack-send-error.ts';
import { findOwnMessage } from './slack-stream-lookup.ts';
import { SlackUserNames } from './slack-user-names.ts';

export interface SlackAdapterOptions {
  /** Bot token (`xoxb-…`, SLACK_BOT_TOKEN). */
  botToken: string;
  /** App-level token (`xapp-…`, SLACK_APP_TOKEN): Socket Mode. Wins over `signingSecret`. */
  appToken?: string;
  /** Signing secret (SLACK_SIGNING_SECRET): HTTP mode, at `/slack/events` on `config.http_host:http_port`. */
  signingSecret?: string;
  /** Web API base (SLACK_API_URL), e.g. `http://127.0.0.1:3999/api/`; default `https://slack.com/api/`. */
  apiUrl?: string;
  config: BatonConfig['slack'];
  logger: Logger;
}

/** Where events, slash commands and interactivity arrive in HTTP mode. */
export const slackEventsPath = '/slack/events';
/** Waiting on stop for command answers already under way, at most this long. */
const stopGraceMs = 5000;

/**
 * Slack on Bolt, in Socket Mode (app token) or HTTP mode (signing secret): mentions and thread replies
 * become turns, `/baton …` and the same words after a mention become commands, task boards are Block Kit
 * with Cancel / Refresh buttons. Replies are mrkdwn, at most 3,500 characters a message (the gateway's
 * Thread splits by `renderedLength`); parent replies stream with chat.startStream / appendStream /
 * stopStream where the app may stream, and `assistant.threads.setStatus` shows "is thinking…" meanwhile.
 *
 * Slack has no typing indicator for bots, so there is no `showTyping`.
 */
export class SlackAdapter implements ChatAdapter {
  readonly platform = 'slack';
  // chat.update is Tier 3 (about 50 a minute): a reply edited in place (no native stream) goes at most every 1.2 s.
  readonly limits: PlatformLimits = { maxMessageChars: 3500, minEditIntervalMs: 1200 };
  readonly mode: 'socket' | 'http';
  private readonly options: SlackAdapterOptions;
  private readonly logger: Logger;
  private readonly clientOptions: webApi.WebClientOptions;
  private readonly client: webApi.WebClient;
  private readonly poster: SlackPoster;
  private readonly names: SlackUserNames;
  private readonly pending = new Set<Promise<unknown>>();
  private app: App | null = null;
  private server: Server | null = null;
  private socketConnected = false;
  private eventsUrl: string | null = null;
  private identity: SlackIdentity | null = null;

  constructor(options: SlackAdapterOptions) {
    for (const secret of [options.botToken, options.appToken, options.signingSecret]) registerSecret(secret);
    if (!options.appToken && !options.signingSecret) {
      throw new AdapterError(
        'config_invalid',
        'Slack needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) besides SLACK_BOT_TOKEN',
        { fault: 'user' },
      );
    }
    if (!options.botToken.startsWith('xoxb-')) {
      throw new AdapterError('config_invalid', 'SLACK_BOT_TOKEN must be a bot token (xoxb-…)', {
        fault: 'user',
      });
    }
    if (options.appToken && !options.appToken.startsWith('xapp-')) {
      throw new AdapterError('config_invalid', 'SLACK_APP_TOKEN must be an app-level token (xapp-…)', {
        fault: 'user',
      });
    }
    this.options = options;
    this.mode = options.appToken ? 'socket' : 'http';
    this.logger = options.logger.child({ adapter: 'slack' });
    this.clientOptions = {
      logger: boltLoggerFor(this.logger),
      // The delivery layer owns retries: a write retried here could post twice.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      ...(options.apiUrl ? { slackApiUrl: withTrailingSlash(options.apiUrl) } : {}),
    };
    this.client = new webApi.WebClient(options.botToken, this.clientOptions);
    this.poster = new SlackPoster(this.client, this.limits.maxMessageChars, options.config.command);
    this.names = new SlackUserNames(this.client, this.logger);
  }

  /** HTTP mode: the URL to give Slack (events, commands and interactivity), once started. */
  get url(): string | null {
    return this.eventsUrl;
  }

  async start(sink: GatewaySink): Promise<void> {
    if (this.app) throw new AdapterError('config_invalid', 'the Slack adapter is already started');
    const identity = await this.authenticate();
    this.identity = identity;
    const inbound = new SlackInbound({
      sink,
      names: this.names,
      identity,
      config: this.options.config,
      maxChars: this.limits.maxMessageChars,
      logger: this.logger,
      background: (work) => this.background(work),
    });
    const receiver = this.createReceiver();
    const app = new App({
      token: this.options.botToken,
      botId: identity.botId,
      botUserId: identity.botUserId,
      // auth.test already ran above.
      tokenVerificationEnabled: false,
      receiver,
      logger: boltLoggerFor(this.logger),
      clientOptions: this.clientOptions,
      convoStore: false,
    });
    this.registerListeners(app, inbound);
    this.app = app;
    try {
      if (receiver instanceof SocketModeReceiver) {
        this.watchSocket(receiver);
        await app.start();
        this.socketConnected = true;
      } else {
        const { http_host: host, http_port: port } = this.options.config;
        const server = (await app.start({ port, host })) as Server;
        this.server = server;
        const bound = server.address() as AddressInfo;
        const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
        this.eventsUrl = `http://${shownHost}:${bound.port}${slackEventsPath}`;
      }
    } catch (error) {
      this.app = null;
      await app.stop().catch(() => undefined);
      const where =
        this.mode === 'http' ? ` on ${this.options.config.http_host}:${this.options.config.http_port}` : '';
      throw new AdapterError(
        'config_invalid',
        `the Slack adapter could not start in ${this.mode} mode${where}: ${describeError(error)}`,
        { cause: error },
      );
    }
    this.logger.info(
      { mode: this.mode, botUserId: identity.botUserId, team: identity.teamId, url: this.eventsUrl },
      'slack connected',
    );
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    this.socketConnected = false;
    if (app) {
      this.server?.closeIdleConnections();
      await app.stop().catch((error: unknown) => this.logger.warn({ err: error }, 'slack stop failed'));
    }
    this.server = null;
    this.eventsUrl = null;
    if (this.pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise((resolve) => {
        timer = setTimeout(resolve, stopGraceMs);
      });
      await Promise.race([Promise.allSettled([...this.pending]), grace]);
      clearTimeout(timer);
    }
  }

  isHealthy(): boolean {
    if (!this.app) return false;
    return this.mode === 'socket' ? this.socketConnected : this.server?.listening === true;
  }

  send(ref: ConversationRef, message: OutboundMessage): Promise<{ messageId: string }> {
    return this.poster.send(ref, message);
  }

  edit(ref: ConversationRef, messageId: string, message: OutboundMessage): Promise<void> {
    return this.poster.edit(ref, messageId, message);
  }

  delete(ref: ConversationRef, messageId: string): Promise<void> {
    return this.poster.delete(ref, messageId);
  }

  /** chat.startStream and chat.postMessage take no idempotency key: the thread is read back instead. */
  async findPostedMessage(
    ref: ConversationRef,
    lookup: { since: number; text: string; exclude: string[] },
  ): Promise<{ messageId: string } | null> {
    const identity = this.identity ?? (await this.authenticate());
    return findOwnMessage(this.client, identity, ref, lookup);
  }

  renderedLength(markdown: string): number {
    return mrkdwnLength(markdown);
  }

  startStream(
    ref: ConversationRef,
    markdown: string,
    recipient?: { userId: string; teamId?: string },
  ): Promise<{ messageId: string } | null> {
    return this.poster.startStream(ref, markdown, recipient);
  }

  appendStream(ref: ConversationRef, messageId: string, markdown: string): Promise<void> {
    return this.poster.appendStream(ref, messageId, markdown);
  }

  stopStream(ref: ConversationRef, messageId: string): Promise<void> {
    return this.poster.stopStream(ref, messageId);
  }

  setStatus(ref: ConversationRef, status: string): Promise<void> {
    return this.poster.setStatus(ref, status);
  }

  postNotice(ref: ConversationRef, userId: string, markdown: string): Promise<void> {
    return this.poster.postEphemeral(ref.channel, userId, threadTsOf(ref), markdown);
  }

  private async authenticate(): Promise<SlackIdentity> {
    try {
      const result = await this.client.auth.test();
      if (!result.user_id || !result.bot_id) {
        throw new AdapterError(
          'config_invalid',
          'SLACK_BOT_TOKEN is not a bot token (auth.test has no bot id)',
          {
            fault: 'user',
          },
        );
      }
      return { botUserId: result.user_id, botId: result.bot_id, teamId: result.team_id };
    } catch (error) {
      if (error instanceof AdapterError) throw error;
      const code = slackErrorCode(error);
      throw new AdapterError(
        'config_invalid',
        code
          ? `Slack refused SLACK_BOT_TOKEN (auth.test: ${code})`
          : 'Slack could not be reached to check SLACK_BOT_TOKEN (auth.test)',
        { fault: code ? 'user' : 'platform', cause: error },
      );
    }
  }

  private createReceiver(): Receiver {
    const logger = boltLoggerFor(this.logger);
    if (this.options.appToken) {
      return new SocketModeReceiver({
        appToken: this.options.appToken,
        logger,
        // Reconnects keep trying (the socket client's own retry policy); only the base URL is ours.
        installerOptions: {
          clientOptions: this.options.apiUrl ? { slackApiUrl: withTrailingSlash(this.options.apiUrl) } : {},
        },
      });
    }
    const receiver = new HTTPReceiver({
      signingSecret: this.options.signingSecret!,
      endpoints: slackEventsPath,
      // The answer to Slack waits until a turn is queued (a few ms): an error there gets a 500 and Slack
      // redelivers. Slow work (command answers) runs after. Signatures and the 5-minute age limit are
      // checked by the receiver (401 otherwise).
      processBeforeResponse: true,
      logger,
    });
    guardSlackBodies(receiver, slackEventsPath, this.logger);
    return receiver;
  }

  private registerListeners(app: App, inbound: SlackInbound): void {
    app.event('app_mention', async ({ body, event }) => inbound.mention(body, event));
    app.event('message', async ({ body, event }) => inbound.message(body, event));
    app.command(this.options.config.command, async ({ ack, command, respond }) => {
      await ack();
      this.background(() => inbound.slashCommand(command, respond as SlashRespond));
    });
    for (const action_id of [cancelActionId, refreshActionId]) {
      app.action({ type: 'block_actions', action_id }, async ({ ack, body }) => {
        await ack();
        this.background(() => inbound.action(body));
      });
    }
    // A prompt's buttons (a child's question, an approval): each carries its chat command as its value.
    app.action({ type: 'block_actions', action_id: promptActionPattern }, async ({ ack, body }) => {
      await ack();
      this.background(() => inbound.promptAction(body));
    });
    app.error(async (error) => {
      this.logger.error({ err: error }, 'slack event handling failed');
      // Rethrown: in HTTP mode Slack gets a 500 and delivers the event again.
      throw error;
    });
  }

  private watchSocket(receiver: SocketModeReceiver): void {
    const socket = receiver.client;
    socket.on('connected', () => {
      this.socketConnected = true;
    });
    for (const state of ['reconnecting', 'disconnecting', 'disconnected', 'close']) {
      socket.on(state, () => {
        this.socketConnected = false;
      });
    }
  }

  private background(work: () => Promise<unknown>): void {
    const running = work().catch((error: unknown) =>
      this.logger.error({ err: error }, 'slack background work failed'),
    );
    this.pending.add(running);
    void running.finally(() => this.pending.delete(running));
  }
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}
