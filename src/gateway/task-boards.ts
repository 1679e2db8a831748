import type { Logger } from '../logging/logger.ts';
import type { BoardState, BoardStates } from '../sessions/board-states.ts';
import { isParked, isTerminal, roundOf, type TaskRecord } from '../tasks/task-record.ts';
import type { TaskSignals } from '../tasks/task-signals.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import { activityText, elapsedSeconds, shortGoal } from '../tasks/task-views.ts';
import { cutText } from '../text/cut-text.ts';
import type { ConversationRef, TaskBoardView } from './chat-adapter.ts';
import { PlatformSendError } from './platform-send-error.ts';
import { boardViewOf, renderBoardText, type TaskBoardFacts } from './render-board.ts';
import type { Thread } from './thread.ts';

// When only elapsed times changed, edit at most this often: platforms rate-limit edits.
const clockOnlyEditMs = 10_000;

export interface TaskBoardsOptions {
  boards: BoardStates;
  store: TaskStore;
  signals: TaskSignals;
  /** The outbound path to a conversation; undefined when no adapter of its platform runs here. */
  threadFor(ref: ConversationRef): Thread | undefined;
  intervalMs: number;
  logger: Logger;
}

/**
 * One live task board per thread: a message edited in place (at most once per interval) showing the
 * thread's task tree, from the first task queued until every task on it has ended. Board state lives in
 * Redis and a short lock picks one gateway per refresh, so several gateways never fight over a board.
 */
export class TaskBoards {
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private refreshing = false;

  constructor(private readonly options: TaskBoardsOptions) {}

  async start(): Promise<void> {
    const { signals, boards } = this.options;
    await signals.start();
    this.unsubscribe = signals.onAny((signal) => {
      if (signal.kind !== 'queued') return;
      void boards.open(signal.sessionKey).catch(() => undefined);
    });
    // Ticks several times per interval; each board is edited only once a full interval has passed since its
    // last edit (by the clock), so timer jitter can neither exceed the edit rate nor halve it.
    this.timer = setInterval(() => void this.refreshAll(), this.tickMs);
    this.timer.unref();
  }

  private get tickMs(): number {
    return Math.max(100, Math.floor(this.options.intervalMs / 4));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    while (this.refreshing) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private async refreshAll(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    const { boards, logger } = this.options;
    try {
      const sessions = await boards.liveSessions().catch((error: unknown) => {
        logger.warn({ err: error }, 'reading live task boards failed');
        return [] as string[];
      });
      await Promise.all(
        sessions.map(async (sessionKey) => {
          try {
            const board = await boards.lockAndRead(sessionKey, this.tickMs);
            if (board) await this.refresh(sessionKey, board);
          } catch (error) {
            logger.warn({ err: error, sessionKey }, 'task board refresh failed');
          }
        }),
      );
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * Forces an edit at the board's next refresh. It goes through the same lock and throttle as every
   * refresh, so a button press can neither race a settling board nor exceed the edit rate (the time of
   * the last edit is kept).
   */
  async requestRefresh(sessionKey: string): Promise<void> {
    await this.options.boards.forgetSignature(sessionKey);
  }

  /** Renders the board of one thread from its stored state, and posts or edits it when it changed. */
  private async refresh(sessionKey: string, board: BoardState): Promise<void> {
    const { boards, store } = this.options;
    const now = Date.now();
    const sinceLastEdit = now - Number(board.editedAt ?? 0);
    // Checked first, before reading any task: most ticks end here.
    if (board.messageId && sinceLastEdit < this.options.intervalMs) return;
    const since = Number(board.since ?? 0);
    // The tasks started since the board opened, and any task back at work since then: a follow-up reopens a
    // task of an earlier, settled board (no task is left unfinished when a board settles).
    const records = (await store.listSession(sessionKey, { limit: 50 })).filter(
      (record) => record.createdAt >= since || !isTerminal(record.status) || (record.endedAt ?? 0) >= since,
    );
    if (records.length === 0) {
      await boards.dropLive(sessionKey);
      return;
    }
    const view = await this.viewOf(sessionKey, records);
    const origin = records[0]!.origin;
    const ref: ConversationRef = {
      platform: origin.platform,
      channel: origin.channel,
      thread: origin.thread,
    };
    const thread = this.options.threadFor(ref);
    if (!thread) return;
    const fallbackText = renderBoardText(view);
    const signature = JSON.stringify(view.rows.map(({ elapsedSeconds: _clock, ...rest }) => rest));
    const unchanged = board.signature === signature;
    // A board whose unfinished tasks all wait for people (for hours, maybe) is not edited for its clock.
    const onlyWaiting = records.every((record) => isTerminal(record.status) || isParked(record.status));
    if (unchanged && !view.settled && (sinceLastEdit < clockOnlyEditMs || onlyWaiting)) return;
    const message = { kind: 'board' as const, board: view, fallbackText };
    if (board.messageId) {
      try {
        await thread.update(board.messageId, message);
      } catch (error) {
        // The board message is gone (deleted) or can no longer be edited: post a fresh one next time
        // instead of failing the same edit forever. Retryable failures are simply tried at the next tick.
        if (error instanceof PlatformSendError && !error.retryable) await boards.forgetMessage(sessionKey);
        throw error;
      }
      // Counted from when the platform took the edit: the next one comes a full interval after it.
      await boards.recordShown(sessionKey, signature, Date.now());
    } else {
      // A board posted by a gateway that died before recording it is found and brought up to date instead.
      const unrecorded =
        board.postingAt && board.postingText
          ? await thread.findUnrecorded(Number(board.postingAt), board.postingText)
          : null;
      let messageId = unrecorded;
      if (messageId) {
        await thread.update(messageId, message);
        await thread.noteMessage(messageId);
      } else {
        if (thread.looksUpPosts) await boards.recordPosting(sessionKey, now, thread.postedTextOf(message));
        messageId = (await thread.post(message)).messageIds[0] ?? null;
      }
      await boards.recordShown(sessionKey, signature, Date.now(), messageId ?? undefined);
    }
    if (view.settled) {
      // The board is final; the next task in this thread opens a new one below the conversation.
      await boards.close(sessionKey);
    }
  }

  private async viewOf(sessionKey: string, records: TaskRecord[]): Promise<TaskBoardView> {
    const rows: TaskBoardFacts[] = await Promise.all(
      records.map(async (record) => {
        const [last] = isTerminal(record.status) ? [] : await this.options.store.recentEvents(record.id, 1);
        return {
          taskId: record.id,
          parentTaskId: record.parentTaskId,
          depth: record.depth,
          goal: shortGoal(record.goal, 90),
          status: record.status,
          elapsedSeconds: Math.round(elapsedSeconds(record)),
          steps: record.steps,
          lastActivity: last ? cutText(activityText(last, record.steps), 140) : '',
          ...(record.change ? { changedFiles: record.change.files } : {}),
          ...(roundOf(record) > 1 ? { round: roundOf(record) } : {}),
        };
      }),
    );
    rows.reverse();
    return boardViewOf(
      sessionKey,
      rows,
      records.every((record) => isTerminal(record.status)),
    );
  }
}
