import { createHash } from 'node:crypto';
import type { webApi } from '@slack/bolt';
import type { ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import { sessionKeyOf } from '../../src/gateway/chat-adapter.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { boardBlocks } from './slack-board-blocks.ts';
import { fitMrkdwn, toMrkdwnChunks } from './slack-mrkdwn.ts';
import { promptBlocks } from './slack-prompt-blocks.ts';
import { toPlatformSendError } from './slack-send-error.ts';

/** How long a send that failed half-way remembers what it already posted, for the delivery layer's retry. */
const partialSendMemoryMs = 10 * 60_000;
/** Ephemeral notes are short answers; a longer one is cut rather than spread over many notes. */
const maxEphemeralChunks = 3;

/** The thread a reply goes to; a ref whose thread is the channel (a slash command's) posts in the channel. */
export function threadTsOf(ref: ConversationRef): string | undefined {
  return ref.thread === ref.channel ? undefined : ref.thread;
}

/**
 * Every write Baton makes to Slack: messages (Markdown converted to mrkdwn, split within `maxChars`),
 * task boards as Block Kit, edits, and ephemeral notes. Failures become PlatformSendError.
 */
export class SlackPoster {
  /** Chunks already posted by a send that then failed, keyed by thread and text (see `send`). */
  private readonly partialSends = new Map<string, { posted: number; lastTs: string; at: number }>();

  constructor(
    private readonly client: webApi.WebClient,
    private readonly maxChars: number,
    /** The slash command (`slack.command`), named in a prompt's how-to-answer line. */
    private readonly slashCommand = '/baton',
  ) {}

  /**
   * Posts a message; its id is the `ts` of the (last) Slack message. Conversion can make a text longer
   * than one message: then it goes out as several, and a retry of the same send after a failure part-way
   * posts only the rest, so no chunk appears twice.
   */
  async send(ref: ConversationRef, outbound: OutboundMessage): Promise<{ messageId: string }> {
    const thread_ts = threadTsOf(ref);
    if (outbound.kind === 'prompt') {
      // One message (a prompt is short, its blocks cut to Slack's limits), so a retry has no part to skip.
      const result = await this.call('chat.postMessage', () =>
        this.client.chat.postMessage({
          channel: ref.channel,
          thread_ts,
          text: fitMrkdwn(outbound.fallbackText, this.maxChars),
          blocks: promptBlocks(outbound.prompt, this.slashCommand),
          unfurl_links: false,
          unfurl_media: false,
        }),
      );
      return { messageId: tsOf(result, 'chat.postMessage') };
    }
    const message = outbound;
    if (message.kind === 'board') {
      const result = await this.call('chat.postMessage', () =>
        this.client.chat.postMessage({
          channel: ref.channel,
          thread_ts,
          text: fitMrkdwn(message.fallbackText, this.maxChars),
          blocks: boardBlocks(message.board),
        }),
      );
      return { messageId: tsOf(result, 'chat.postMessage') };
    }
    const chunks = toMrkdwnChunks(message.text, this.maxChars);
    if (chunks.length === 0) chunks.push('_(empty message)_');
    const key = this.partialKey(ref, message.text);
    const resumed = this.partialSends.get(key);
    let posted = resumed?.posted ?? 0;
    let lastTs = resumed?.lastTs ?? '';
    for (const chunk of chunks.slice(posted)) {
      try {
        const result = await this.call('chat.postMessage', () =>
          this.client.chat.postMessage({
            channel: ref.channel,
            thread_ts,
            text: chunk,
            unfurl_links: false,
            unfurl_media: false,
          }),
        );
        lastTs = tsOf(result, 'chat.postMessage');
        posted += 1;
      } catch (error) {
        if (posted > 0) this.partialSends.set(key, { posted, lastTs, at: Date.now() });
        throw error;
      }
    }
    this.partialSends.delete(key);
    return { messageId: lastTs };
  }

  /** Replaces a message posted earlier (`messageId` is its `ts`); a text edit is cut to one message. */
  async edit(ref: ConversationRef, messageId: string, outbound: OutboundMessage): Promise<void> {
    if (outbound.kind === 'prompt') {
      await this.call('chat.update', () =>
        this.client.chat.update({
          channel: ref.channel,
          ts: messageId,
          text: fitMrkdwn(outbound.fallbackText, this.maxChars),
          blocks: promptBlocks(outbound.prompt, this.slashCommand),
        }),
      );
      return;
    }
    const message = outbound;
    await this.call('chat.update', () =>
      message.kind === 'board'
        ? this.client.chat.update({
            channel: ref.channel,
            ts: messageId,
            text: fitMrkdwn(message.fallbackText, this.maxChars),
            blocks: boardBlocks(message.board),
          })
        : this.client.chat.update({
            channel: ref.channel,
            ts: messageId,
            text: fitMrkdwn(message.text, this.maxChars) || '_(empty message)_',
          }),
    );
  }

  /** A note only `user` sees, in the thread when there is one. */
  async postEphemeral(channel: string, user: string, threadTs: string | undefined, markdown: string) {
    const chunks = toMrkdwnChunks(markdown, this.maxChars).slice(0, maxEphemeralChunks);
    for (const text of chunks) {
      await this.call('chat.postEphemeral', () =>
        this.client.chat.postEphemeral({ channel, user, text, ...(threadTs ? { thread_ts: threadTs } : {}) }),
      );
    }
  }

  private async call<T>(method: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw toPlatformSendError(method, error);
    }
  }

  private partialKey(ref: ConversationRef, text: string): string {
    const now = Date.now();
    for (const [key, entry] of this.partialSends) {
      if (now - entry.at > partialSendMemoryMs) this.partialSends.delete(key);
    }
    return createHash('sha256').update(sessionKeyOf(ref)).update('\0').update(text).digest('hex');
  }
}

function tsOf(result: { ts?: string }, method: string): string {
  if (!result.ts) throw new PlatformSendError(`slack ${method}: no ts in the answer`, { retryable: false });
  return result.ts;
}
