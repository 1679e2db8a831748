import { createHmac, randomUUID } from 'node:crypto';
import { fakeSlackWorkspace } from './fake-slack-server.ts';

/**
 * Slack's inbound payloads as Slack sends them (Events API callbacks, slash commands, block_actions),
 * and HTTP-mode delivery: signed (v0 HMAC-SHA256 over `v0:<timestamp>:<body>`) POSTs to an app's
 * `/slack/events`.
 */

let tsCounter = 0;
/** A message timestamp, unique in this process (Slack's `ts` is the message id). */
export function nextSlackTs(): string {
  tsCounter += 1;
  return `${1_700_000_000 + tsCounter}.${String(tsCounter).padStart(6, '0')}`;
}

const mention = `<@${fakeSlackWorkspace.botUserId}>`;

export interface EventOptions {
  user: string;
  channel?: string;
  text: string;
  ts?: string;
  threadTs?: string;
}

export function mentionEvent(options: EventOptions): Record<string, unknown> {
  const ts = options.ts ?? nextSlackTs();
  return {
    type: 'app_mention',
    user: options.user,
    text: `${mention} ${options.text}`,
    ts,
    event_ts: ts,
    channel: options.channel ?? 'C0OPS',
    ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
  };
}

export function messageEvent(
  options: EventOptions & { extra?: Record<string, unknown> },
): Record<string, unknown> {
  const ts = options.ts ?? nextSlackTs();
  return {
    type: 'message',
    channel_type: 'channel',
    user: options.user,
    text: options.text,
    ts,
    event_ts: ts,
    channel: options.channel ?? 'C0OPS',
    ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
    ...options.extra,
  };
}

/** The Events API envelope around an event (the body of an HTTP request, the payload of a socket envelope). */
export function eventCallback(event: Record<string, unknown>, eventId = `Ev${randomUUID().slice(0, 10)}`) {
  return {
    token: 'legacy-verification-token',
    team_id: fakeSlackWorkspace.teamId,
    api_app_id: fakeSlackWorkspace.appId,
    event,
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: fakeSlackWorkspace.teamId,
        user_id: fakeSlackWorkspace.botUserId,
        is_bot: true,
      },
    ],
    is_ext_shared_channel: false,
  };
}

export function slashCommand(options: {
  user: string;
  userName?: string;
  channel?: string;
  text: string;
  responseUrl: string;
  command?: string;
}): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: fakeSlackWorkspace.teamId,
    team_domain: 'fake',
    channel_id: options.channel ?? 'C0OPS',
    channel_name: 'ops',
    user_id: options.user,
    user_name: options.userName ?? options.user.toLowerCase(),
    command: options.command ?? '/baton',
    text: options.text,
    api_app_id: fakeSlackWorkspace.appId,
    is_enterprise_install: 'false',
    response_url: options.responseUrl,
    trigger_id: `trigger-${randomUUID()}`,
  };
}

/** A button press on a message the bot posted in a thread. */
export function blockActions(options: {
  user: string;
  channel?: string;
  messageTs: string;
  threadTs?: string;
  actionId: string;
  value: string;
  responseUrl: string;
}): Record<string, unknown> {
  const channel = options.channel ?? 'C0OPS';
  return {
    type: 'block_actions',
    user: {
      id: options.user,
      username: options.user.toLowerCase(),
      name: options.user.toLowerCase(),
      team_id: fakeSlackWorkspace.teamId,
    },
    api_app_id: fakeSlackWorkspace.appId,
    token: 'legacy-verification-token',
    container: {
      type: 'message',
      message_ts: options.messageTs,
      channel_id: channel,
      is_ephemeral: false,
      ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
    },
    trigger_id: `trigger-${randomUUID()}`,
    team: { id: fakeSlackWorkspace.teamId, domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channel, name: 'ops' },
    message: {
      type: 'message',
      ts: options.messageTs,
      ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
      user: fakeSlackWorkspace.botUserId,
      bot_id: fakeSlackWorkspace.botId,
      text: 'task board',
    },
    response_url: options.responseUrl,
    actions: [
      {
        action_id: options.actionId,
        block_id: `actions:${options.value}`,
        text: { type: 'plain_text', text: 'button', emoji: true },
        value: options.value,
        type: 'button',
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
}

/** The `x-slack-signature` of a body sent at `timestamp` (unix seconds). */
export function slackSignature(signingSecret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SignedPostOptions {
  signingSecret?: string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** Sent as `x-slack-retry-num` (with a retry reason), as Slack marks redeliveries. */
  retryNum?: number;
  /** Replaces the computed signature. */
  signature?: string;
}

/** POSTs a body to an HTTP-mode app as Slack does; `body` is JSON (events) or a form (commands, buttons). */
export async function postToSlackApp(
  url: string,
  body: Record<string, unknown> | { form: Record<string, string> },
  options: SignedPostOptions = {},
): Promise<{ status: number; text: string }> {
  const isForm = 'form' in body && typeof body.form === 'object';
  const raw = isForm
    ? new URLSearchParams(body.form as Record<string, string>).toString()
    : JSON.stringify(body);
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': isForm ? 'application/x-www-form-urlencoded' : 'application/json',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature':
        options.signature ??
        slackSignature(options.signingSecret ?? fakeSlackWorkspace.signingSecret, timestamp, raw),
      ...(options.retryNum !== undefined
        ? { 'x-slack-retry-num': String(options.retryNum), 'x-slack-retry-reason': 'http_timeout' }
        : {}),
    },
    body: raw,
  });
  return { status: response.status, text: await response.text() };
}

/** An interactivity payload as HTTP mode carries it: a form with one `payload` field of JSON. */
export function interactivityForm(payload: Record<string, unknown>): { form: Record<string, string> } {
  return { form: { payload: JSON.stringify(payload) } };
}
