import { type AgentState, runAgentLoop } from '../agent/agent-loop.ts';
import type { BatonConfig } from '../config/schema.ts';
import type { ChatMessage, ModelClient, ToolCall } from '../llm/model-client.ts';
import type { ParentTurnCheckpoints } from '../sessions/parent-turn-checkpoints.ts';
import type { SessionHistory } from '../sessions/session-history.ts';
import type { TaskActor } from '../tasks/task-access.ts';
import type { TaskOrigin } from '../tasks/task-record.ts';
import type { Tool } from '../tools/tool.ts';
import type { UsageScope } from '../usage/usage-ledger.ts';
import type { TurnSlot } from './session-turn-queue.ts';

/**
 * The parent's system prompt. It never changes between calls (no task roster, no clock), so provider
 * prompt caches keep working; task news reaches the parent as ordinary messages instead.
 */
export const parentSystemPrompt = [
  'You are Baton, an assistant working inside a team chat thread. Several people may write in one thread;',
  'each message starts with the name of who wrote it.',
  '',
  'You can hand work to background child agents with your tools. Use delegate_task_async for anything that',
  'takes more than a moment (research, reading pages, multi-step work): it returns a task id at once, the',
  'conversation stays free, and the result is posted in this thread when the task ends. Give each child a',
  'self-contained goal and all the context it needs; it cannot see this conversation. Use delegate_task only',
  'for short work the person is waiting for. Use check_task or list_tasks when asked about progress,',
  'steer_task to pass new instructions to a running task, cancel_task when asked to stop one, and',
  'collect_task only when the person wants to wait for a result.',
  '',
  'Messages that begin with [Background task …] report a task that ended; use them to answer follow-ups.',
  'Reply in concise Markdown. Mention task ids (like t_7k2m9q) so people can steer or cancel them.',
].join('\n');

export interface ParentTurnResult {
  reply: string;
  /** Every message the turn added to the conversation, to be appended to the history. */
  newMessages: ChatMessage[];
}

/** What a turn's caller sees while it runs (to stream the reply). */
export interface ParentTurnObserver {
  /** The current model call's text so far (each call starts again at ''). */
  onText?(textSoFar: string): void;
  /** A tool batch is about to run. */
  onToolBatch?(calls: ToolCall[]): void;
}

export interface ParentAgentOptions {
  /** gateway.* (route, iterations), models.default_route, delegation.collect_max_timeout_s. */
  config: Pick<BatonConfig, 'gateway' | 'models' | 'delegation'>;
  history: SessionHistory;
  checkpoints: ParentTurnCheckpoints;
  /** The model client of one turn: budgets checked and usage counted for whom it acts. */
  modelFor(scope: UsageScope & { userName?: string }): ModelClient;
  /** The parent's tools (the delegation toolset). */
  tools(): Tool[];
}

/**
 * Runs one parent turn for a session: history + the new message → tool loop → the reply. Like a
 * child, the turn is checkpointed after every model answer and tool batch, so a gateway that dies
 * mid-turn leaves the next one to resume it: finished steps are not redone, and saved tool calls are
 * replayed with their ids, which keeps dispatch idempotent (no second child).
 */
export class ParentAgent {
  constructor(private readonly options: ParentAgentOptions) {}

  async runTurn(
    sessionKey: string,
    turnId: string,
    origin: TaskOrigin,
    input: ChatMessage,
    signal: AbortSignal,
    /** Who the turn acts for: access to tasks through the tools is decided for them. */
    actor: TaskActor,
    slot?: TurnSlot,
    observer: ParentTurnObserver = {},
  ): Promise<ParentTurnResult> {
    const { config, checkpoints } = this.options;
    const saved = await checkpoints.load(sessionKey);
    const resumed = saved?.turnId === turnId ? saved : null;
    if (resumed?.reply !== undefined) {
      return { reply: resumed.reply, newMessages: resumed.messages.slice(resumed.firstNew) };
    }
    let state: AgentState;
    let firstNew: number;
    if (resumed) {
      state = {
        messages: resumed.messages,
        steps: resumed.steps,
        usage: resumed.usage,
        ...(resumed.toolCallStarts ? { toolCallStarts: resumed.toolCallStarts } : {}),
      };
      firstNew = resumed.firstNew;
    } else {
      const past = await this.options.history.load(sessionKey);
      state = {
        messages: [{ role: 'system', content: parentSystemPrompt }, ...past, input],
        steps: 0,
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      };
      firstNew = state.messages.length - 1;
    }
    const save = async (current: AgentState, reply?: string) => {
      await checkpoints.save(sessionKey, {
        turnId,
        messages: current.messages,
        steps: current.steps,
        usage: current.usage,
        firstNew,
        ...(reply === undefined ? {} : { reply }),
        ...(current.toolCallStarts ? { toolCallStarts: current.toolCallStarts } : {}),
      });
    };
    const reply = await runAgentLoop(state, {
      model: this.options.modelFor({
        platform: origin.platform,
        channel: origin.channel,
        user: origin.user,
        ...(origin.userName ? { userName: origin.userName } : {}),
        taskId: null,
      }),
      route: config.gateway.parent_route ?? config.models.default_route,
      tools: this.options.tools(),
      toolContext: {
        sessionKey,
        origin,
        callerTaskId: null,
        depth: 0,
        signal,
        actor,
        ...(slot ? { releaseTurnSlotWhile: <T>(work: () => Promise<T>) => slot.releaseWhile(work) } : {}),
      },
      toolTimeoutMs: (config.delegation.collect_max_timeout_s + 60) * 1000,
      maxIterations: config.gateway.parent_max_iterations,
      hooks: {
        onToolBatchStart: async (current, calls) => {
          await save(current);
          observer.onToolBatch?.(calls);
        },
        onStepFinish: (current) => save(current),
      },
      ...(observer.onText ? { onText: observer.onText } : {}),
    });
    await save(state, reply);
    return { reply, newMessages: state.messages.slice(firstNew) };
  }

  /** Forgets the turn's checkpoint once its results are recorded and posted. */
  async finishTurn(sessionKey: string): Promise<void> {
    await this.options.checkpoints.clear(sessionKey);
  }
}
