import type { webApi } from '@slack/bolt';
import type { ConversationRef, OutboundMessage } from '../../src/gateway/chat-adapter.ts';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';
import { boardBlocks } from './slack-board-blocks.ts';
import { fitMrkdwn, markdownToMrkdwn } from './slack-mrkdwn.ts';
import { promptBlocks } from './slack-prompt-blocks.ts';
import { slackErrorCode, toPlatformSendError } from './slack-send-error.ts';

/** Ephemeral notes are short answers; a longer one is cut rather than spread over many notes. */

/** The thread a reply goes to; a ref whose thread is the channel (a slash command's) posts in the channel. */
export function threadTsOf(ref: ConversationRef): string | undefined {
  return ref.thread === ref.channel ? undefined : ref.thread;
}

/**
 * Every write Baton makes to Slack: messages (Markdown converted to mrkdwn, one message each: the
 * gateway's Thread splits), task boards as Block Kit, edits, native streams, the assistant status line,
 * and ephemeral notes. Failures become PlatformSendError.
 */
export class SlackPoster {
  /** Set once Slack said this app may not stream (then every reply is posted and edited). */
  private streamingUnavailable = false;
  private statusUnavailable = false;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly maxChars: number,
    /** The slash command (`slack.command`), named in a prompt's how-to-answer line. */
    private readonly slashCommand = '/baton',
  ) {}

  /**
   * Posts one message; its id is the Slack `ts`. Text arrives split by the gateway's Thread so that its
   * mrkdwn fits (see `renderedLength`); a text that still does not fit is cut with `…`, never split here.
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
    const result = await this.call('chat.postMessage', () =>
      this.client.chat.postMessage({
        channel: ref.channel,
        thread_ts,
        text: fitMrkdwn(message.text, this.maxChars) || '_(empty message)_',
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    return { messageId: tsOf(result, 'chat.postMessage') };
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

  /** Deletes a message the app posted (`messageId` is its `ts`). */
  async delete(ref: ConversationRef, messageId: string): Promise<void> {
    await this.call('chat.delete', () => this.client.chat.delete({ channel: ref.channel, ts: messageId }));
  }

  /** A note only `user` sees, in the thread when there is one: one message (the Thread splits longer notes). */
  async postEphemeral(channel: string, user: string, threadTs: string | undefined, markdown: string) {
    const text = fitMrkdwn(markdown, this.maxChars);
    if (!text) return;
    await this.call('chat.postEphemeral', () =>
      this.client.chat.postEphemeral({ channel, user, text, ...(threadTs ? { thread_ts: threadTs } : {}) }),
    );
  }

  /**
   * Starts a native stream (chat.startStream) in the thread; null when the app may not stream here
   * (the method is unknown, not allowed for this token or channel): the gateway then posts and edits.
   */
  async startStream(
    ref: ConversationRef,
    markdown: string,
    recipient?: { userId: string; teamId?: string },
  ): Promise<{ messageId: string } | null> {
    const thread_ts = threadTsOf(ref);
    if (this.streamingUnavailable || !thread_ts) return null;
    try {
      const result = await this.call('chat.startStream', () =>
        this.client.chat.startStream({
          channel: ref.channel,
          thread_ts,
          markdown_text: markdown,
          ...(recipient ? { recipient_user_id: recipient.userId } : {}),
          ...(recipient?.teamId ? { recipient_team_id: recipient.teamId } : {}),
        }),
      );
      return { messageId: tsOf(result, 'chat.startStream') };
    } catch (error) {
      const code = slackErrorCode((error as { cause?: unknown }).cause);
      if (code && streamingUnavailableCodes.has(code)) {
        this.streamingUnavailable = true;
        return null;
      }
      throw error;
    }
  }

  async appendStream(ref: ConversationRef, messageId: string, markdown: string): Promise<void> {
    await this.call('chat.appendStream', () =>
      this.client.chat.appendStream({ channel: ref.channel, ts: messageId, markdown_text: markdown }),
    );
  }

  async stopStream(ref: ConversationRef, messageId: string): Promise<void> {
    await this.call('chat.stopStream', () =>
      this.client.chat.stopStream({ channel: ref.channel, ts: messageId }),
    );
  }

  /** The assistant thread's status line ('is thinking…'); '' clears it. */
  async setStatus(ref: ConversationRef, status: string): Promise<void> {
    const thread_ts = threadTsOf(ref);
    if (!thread_ts || this.statusUnavailable) return;
    try {
      await this.call('assistant.threads.setStatus', () =>
        this.client.assistant.threads.setStatus({ channel_id: ref.channel, thread_ts, status }),
      );
    } catch (error) {
      const code = slackErrorCode((error as { cause?: unknown }).cause);
      if (code && streamingUnavailableCodes.has(code)) this.statusUnavailable = true;
      throw error;
    }
  }

  private async call<T>(method: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw toPlatformSendError(method, error);
    }
  }
}

/** Slack's answers meaning "not for this app, token or channel": asking again would not help. */
const streamingUnavailableCodes = new Set([
  'unknown_method',
  'not_allowed',
  'not_allowed_token_type',
  'method_not_supported_for_channel_type',
  'missing_scope',
  'feature_not_enabled',
  'team_not_allowed',
]);

/** How long a Markdown text is once converted to mrkdwn: the Thread splits by it. */
export function mrkdwnLength(markdown: string): number {
  return markdownToMrkdwn(markdown).length;
}

function tsOf(result: { ts?: string }, method: string): string {
  if (!result.ts) throw new PlatformSendError(`slack ${method}: no ts in the answer`, { retryable: false });
  return result.ts;
}
