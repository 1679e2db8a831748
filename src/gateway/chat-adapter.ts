/**
 * The boundary between the platform-free gateway and each chat platform. An adapter turns platform
 * events into these neutral values, pushes them into the gateway's sink, and renders what the gateway
 * sends back, owning its platform's limits (message length, rate limits, markup). Adapters import from
 * src/ only this port (with `platform-send-error.ts`, `adapter-error.ts` and the console's `console-reads.ts`)
 * and a few leaf helpers; the composition root hands them everything else.
 */
import { taskIdPattern } from '../tasks/task-ids.ts';

/** Task ids as commands and buttons carry them (`t_7k2m9q`). */
export { taskIdPattern };

/** Where a conversation lives. A session is one thread: key `platform:channel:thread`. */
export interface ConversationRef {
  platform: string;
  channel: string;
  /** Thread id; for platforms without threads, the channel again. */
  thread: string;
  /** Set by adapters when only the thread's members see it (a Discord private thread). */
  privateThread?: boolean;
}

export function sessionKeyOf(ref: ConversationRef): string {
  return `${ref.platform}:${ref.channel}:${ref.thread}`;
}

/** The person behind an event, with what access rules look at. */
export interface ChatUser {
  id: string;
  name: string;
  /** Platform role ids (Discord roles); empty where the platform has none. */
  roleIds: string[];
  /** Discord guild / Slack team, when there is one. */
  workspaceId?: string;
  /** Set by adapters whose users are trusted by construction (the local console). */
  trusted?: boolean;
}

export interface InboundMessage {
  ref: ConversationRef;
  user: ChatUser;
  text: string;
  /** Platform message id, so the adapter can acknowledge that message later. */
  messageId: string;
  /** Platform event id; the gateway ignores an id it has seen (retried or duplicated deliveries). */
  eventId: string;
}

export const chatCommandNames = [
  'tasks',
  'status',
  'steer',
  'cancel',
  'collect',
  'answer',
  'approve',
  'deny',
] as const;

/** A command typed by a person (slash command, words after a mention, a button): acts on tasks directly. */
export interface ChatCommand {
  ref: ConversationRef;
  user: ChatUser;
  /** The command text after the bot's name, e.g. `steer t_7k2m9q focus on errors`. */
  text: string;
  /** Platform event id, when the platform may deliver the same command twice; a repeat is not run again. */
  eventId?: string;
}

export interface CommandReply {
  text: string;
  /** Only the caller should see it (refusals, personal status). */
  ephemeral: boolean;
  /** The command was a repeat of one already handled (same eventId): the adapter answers nothing. */
  duplicate?: boolean;
}

/** One row of a task board: enough to render a line or a card on any platform. */
export interface TaskBoardRow {
  taskId: string;
  parentTaskId: string | null;
  depth: number;
  goal: string;
  status: string;
  elapsedSeconds: number;
  steps: number;
  lastActivity: string;
  /** Files a completed child changed in its workspace; absent for tasks without one. */
  changedFiles?: number;
  /** The task's round when a follow-up reopened it (2 and up); absent for a task never reopened. */
  round?: number;
  /** The status as every surface shows it, e.g. `🔄 running`. */
  statusLabel: string;
  /** Queued or running: the row shows its last activity and its Cancel / Refresh buttons. */
  active: boolean;
  /** Elapsed time, steps, round and changed files, e.g. `1m 15s · 3 steps · round 2 · ±4 files`. */
  facts: string;
}

/** A board as the gateway renders it (`boardViewOf`): surfaces only lay it out. */
export interface TaskBoardView {
  sessionKey: string;
  /** In tree order: each task followed by the tasks it started. */
  rows: TaskBoardRow[];
  /** Tasks counted by status, e.g. `2 running · 1 completed`. */
  summary: string;
  /** True when every task on the board has ended: the last edit. */
  settled: boolean;
}

/**
 * A child waiting for a person, posted in the task's origin thread: a question (`ask_user`) or an
 * approval request (a tool listed in `approvals.required_for`). Buttons come back as plain chat commands,
 * so a press and typed words take the same route through the command router and its access checks:
 * a choice → `answer <taskId> #<n>` (1-based), Approve → `approve <taskId>`, Deny → `deny <taskId>`.
 */
export interface TaskPrompt {
  kind: 'question' | 'approval';
  taskId: string;
  /** The task's goal, cut short, and its owner's display name: the message names both. */
  goal: string;
  ownerName: string;
  /** question: the child's question. approval: one line saying what waits for approval. */
  text: string;
  /** question: at most five choices, one button each (empty: answer in words only). approval: empty. */
  choices: string[];
  /** approval: exactly what will run. */
  action?: { tool: string; arguments: string; workspace?: string };
  /** When an unanswered prompt times out (epoch ms): a question fails the wait, an approval is denied. */
  expiresAt?: number;
  /** Set once the prompt is settled: its message is edited to say how, and has no buttons any more. */
  outcome?: PromptOutcome;
}

/** How a prompt was settled, as its edited message shows it. */
export interface PromptOutcome {
  kind: 'answered' | 'approved' | 'denied' | 'timed_out' | 'cancelled' | 'ended';
  /**
   * One line for people, without an icon (surfaces add their own): `Answered by Ann: #2 staging`,
   * `Approved by Ann`, `Denied by Bob: not on prod`, `No answer in time (24 h)`, `Task cancelled by Ann`.
   */
  text: string;
  /** When it was settled (epoch ms). */
  at: number;
}

/** The icon a surface with emoji shows before an outcome's line. */
export function promptOutcomeIcon(outcome: PromptOutcome): string {
  switch (outcome.kind) {
    case 'answered':
      return '💬';
    case 'approved':
      return '✅';
    case 'denied':
      return '❌';
    case 'timed_out':
      return '⏱';
    default:
      return '🚫';
  }
}

/** What the gateway asks an adapter to post: text (Markdown), a task board, or a prompt with buttons. */
export type OutboundMessage =
  | {
      kind: 'text';
      text: string;
      /**
       * Stable across retries of the same post, from any gateway (e.g. `delivery:<task>:<chunk>`):
       * platforms that can de-duplicate by it (Discord's nonce) post it at most once.
       */
      idempotencyKey?: string;
      /**
       * Part of a reply streaming into this message (its growing text, or the final text replacing it):
       * a surface that marks edited messages does not mark these.
       */
      streamed?: boolean;
      /**
       * Platform id of the message this one answers (Discord's `message_reference`): the first chunk is
       * posted as a reply to it, where the platform has replies. Ignored by edits.
       */
      replyTo?: string;
    }
  | { kind: 'board'; board: TaskBoardView; fallbackText: string }
  | {
      kind: 'prompt';
      prompt: TaskPrompt;
      /** The prompt as Markdown with its commands spelled out, for surfaces without buttons. */
      fallbackText: string;
      idempotencyKey?: string;
    };

export interface PlatformLimits {
  /** Longest text one platform message may carry, in characters (as rendered, see `renderedLength`). */
  maxMessageChars: number;
  /**
   * Least time between two edits of one message while a reply streams into it, in ms (Discord: 1,000,
   * i.e. 5 edits per 5 s per channel; Slack's chat.update: 1,200). Default 0: only the gateway's stream
   * interval applies. Native streams (`appendStream`) go at the stream interval.
   */
  minEditIntervalMs?: number;
  /**
   * How long the platform drops a second create carrying the same idempotency key, in ms (Discord's nonce:
   * a few minutes, counted as 60,000). A keyed post retried within it is simply made again with its key;
   * past it, or where creates take no key (absent: Slack), a call that may have landed is looked up first
   * (`findPostedMessage`).
   */
  idempotencyWindowMs?: number;
}

/** What a person has typed so far of a task id (Discord's `id:` autocomplete). */
export interface TaskSuggestionRequest {
  /** The command the id is for (`steer`, `cancel`, …): only tasks it can act on are offered. */
  command?: string;
  /** The typed text, matched against ids and goals. */
  typed: string;
  /** Most suggestions wanted. */
  limit: number;
}

/** A task offered for a typed id. */
export interface TaskSuggestion {
  taskId: string;
  /** `t_7k2m9q · running · the goal`, one line; the adapter cuts it to its platform's limit. */
  label: string;
}

/** What an adapter pushes events into; the gateway implements it. */
export interface GatewaySink {
  /**
   * Whether the access rules let `user` use Baton in `ref`, so an adapter can refuse before anything
   * visible happens (a Discord thread created for them); the gateway still checks every turn and command.
   */
  isAllowed(user: ChatUser, ref: ConversationRef): boolean;
  /** A turn for the parent agent. Resolves once queued; `queuedBehind` counts turns ahead of it. */
  onMessage(message: InboundMessage): Promise<{ accepted: boolean; queuedBehind: number; refusal?: string }>;
  /** A command (slash command, mention words, button): answered directly, without a model call. */
  onCommand(command: ChatCommand): Promise<CommandReply>;
  /**
   * Whether Baton already converses in this thread (a message there is a turn without a mention).
   * True once a message was accepted in it or `claimThread` was called for it.
   */
  knowsThread(ref: ConversationRef): Promise<boolean>;
  /** Records that a thread belongs to Baton (a thread the adapter created for a conversation). */
  claimThread(ref: ConversationRef): Promise<void>;
  /** Re-renders the thread's task board at its next refresh, within one board interval (a Refresh button). */
  refreshBoard(ref: ConversationRef): Promise<void>;
  /**
   * Posts through the gateway's one outbound path (a command's public answer): redacted, split for the
   * platform, retried when the platform says it is safe to.
   */
  post(ref: ConversationRef, message: OutboundMessage): Promise<void>;
  /** A note only `userId` sees (a command's ephemeral answer), through the same path; needs `postNotice`. */
  notice(ref: ConversationRef, userId: string, markdown: string): Promise<void>;
  /**
   * Markdown as the one outbound path would post it here: secrets redacted, split so each piece renders
   * as one platform message. For the answers a platform makes the adapter send itself, on its own token
   * (a Discord interaction's response, a Slack response_url): the adapter makes only that platform call.
   */
  chunksFor(ref: ConversationRef, markdown: string): string[];
  /**
   * Whether words a person typed are a chat command, and its text for `onCommand`; null for a turn for the
   * parent. `slashWords`: a leading `/word` marks a command even when it does not parse (a message box
   * that takes `/tasks`), so the router answers with its usage line.
   */
  commandTextOf(text: string, options?: { slashWords?: boolean }): string | null;
  /**
   * Tasks to offer `user` typing a task id in `ref`, newest first: none when the access rules refuse them,
   * and only tasks visible from there (a private thread's only to its members).
   */
  suggestTasks(
    ref: ConversationRef,
    user: ChatUser,
    request: TaskSuggestionRequest,
  ): Promise<TaskSuggestion[]>;
}

export interface ChatAdapter {
  readonly platform: string;
  readonly limits: PlatformLimits;
  start(sink: GatewaySink): Promise<void>;
  stop(): Promise<void>;
  /**
   * Posts one message, already redacted and within `limits` (the Thread splits text): exactly one
   * platform message, or PlatformSendError (`retryable` when the platform said trying again is safe).
   */
  send(ref: ConversationRef, message: OutboundMessage): Promise<{ messageId: string }>;
  /** Replaces a message the adapter posted earlier (one message's worth, as for `send`). */
  edit(ref: ConversationRef, messageId: string, message: OutboundMessage): Promise<void>;
  /** Removes a message the adapter posted (a stream message a shorter final reply no longer needs). */
  delete?(ref: ConversationRef, messageId: string): Promise<void>;
  /**
   * For platforms whose creates take no idempotency key (Slack), or honour it for a few minutes only
   * (Discord's nonce): the message this app created in the conversation at or after `since` (epoch ms,
   * this process's clock: allow for skew) with exactly `text` (as given to `startStream` or `send`; for a
   * board or a prompt, its fallback text), other than those in `exclude`, the oldest first; null when there
   * is none. A stream or a keyed post whose gateway died between creating a message and recording its id
   * adopts it with this instead of creating a second one.
   */
  findPostedMessage?(
    ref: ConversationRef,
    lookup: { since: number; text: string; exclude: string[] },
  ): Promise<{ messageId: string } | null>;
  /**
   * How long Markdown is once rendered for the platform, in characters (Slack's mrkdwn escapes make it
   * longer); the Thread splits so every rendered message fits `maxMessageChars`. Default: its length.
   */
  renderedLength?(markdown: string): number;
  /**
   * Native streaming (Slack's chat.startStream / appendStream / stopStream). `startStream` answers null
   * when the platform does not offer it here (the Thread then posts and edits instead).
   */
  startStream?(
    ref: ConversationRef,
    markdown: string,
    /** Whom the reply answers (Slack asks for it outside DMs). */
    recipient?: { userId: string; teamId?: string },
  ): Promise<{ messageId: string } | null>;
  appendStream?(ref: ConversationRef, messageId: string, markdown: string): Promise<void>;
  stopStream?(ref: ConversationRef, messageId: string): Promise<void>;
  /** A status line while the bot works and no text flows ('is thinking…'); '' clears it. Best effort. */
  setStatus?(ref: ConversationRef, status: string): Promise<void>;
  /** A note only `userId` sees, where the platform has them (Slack's ephemeral messages). */
  postNotice?(ref: ConversationRef, userId: string, markdown: string): Promise<void>;
  /** Shows that the bot is working in a conversation (typing indicator), where the platform has one. */
  showTyping?(ref: ConversationRef): Promise<void>;
  /**
   * Whether a user is a member of a private thread (`ref.thread`), for platforms that have them: listings
   * and lookups outside that thread show its tasks only to members. Without it, only from inside.
   */
  isThreadMember?(ref: ConversationRef, userId: string): Promise<boolean>;
  /** Whether the adapter is connected, for /healthz. */
  isHealthy(): boolean;
}

/** A prompt as plain text (its fallback), for surfaces or paths that render no buttons. */
export function promptAsText(message: OutboundMessage): Exclude<OutboundMessage, { kind: 'prompt' }> {
  return message.kind === 'prompt'
    ? { kind: 'text', text: message.fallbackText, idempotencyKey: message.idempotencyKey }
    : message;
}

/** Most choices a question shows as buttons (Slack allows five buttons in a row; ask_user takes five). */
export const maxPromptChoices = 5;

/** One button of a prompt and the chat command a press sends, as the person who pressed it. */
export interface PromptButton {
  /** What the button says (cut to each platform's limit by the adapter). */
  label: string;
  /** `answer <taskId> #<n>`, `approve <taskId>` or `deny <taskId>`. */
  command: string;
  style: 'choice' | 'approve' | 'deny';
}

/**
 * The buttons of a prompt: one per choice of a question (the first five), or Approve and Deny; none once it
 * is settled. Every surface draws these, so a press anywhere is the same command as the words typed.
 */
export function promptButtons(prompt: TaskPrompt): PromptButton[] {
  // A settled prompt's message keeps no buttons: a press could only be refused.
  if (prompt.outcome) return [];
  if (prompt.kind === 'approval') {
    return [
      { label: 'Approve', command: `approve ${prompt.taskId}`, style: 'approve' },
      { label: 'Deny', command: `deny ${prompt.taskId}`, style: 'deny' },
    ];
  }
  return prompt.choices.slice(0, maxPromptChoices).map((choice, index) => ({
    label: choice,
    command: `answer ${prompt.taskId} #${index + 1}`,
    style: 'choice',
  }));
}

const pressedCommand = /^(?:answer (t_[a-z0-9]+) #([1-9])|(approve|deny) (t_[a-z0-9]+))$/;

/**
 * The command of a pressed prompt button, checked: a button's value comes back from the platform, and
 * only the three shapes `promptButtons` makes are accepted. Null for anything else.
 */
export function pressedPromptCommand(value: string): string | null {
  const match = pressedCommand.exec(value);
  if (!match) return null;
  const taskId = match[1] ?? match[4]!;
  if (!taskIdPattern.test(taskId)) return null;
  if (match[2] !== undefined && Number(match[2]) > maxPromptChoices) return null;
  return value;
}
