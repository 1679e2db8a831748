import { type AgentState, runAgentLoop } from '../agent/agent-loop.ts';
import type { ChatMessage } from '../llm/model-client.ts';
import type { BatonRuntime } from '../runtime/baton-runtime.ts';
import type { TaskActor } from '../tasks/task-access.ts';
import type { TaskOrigin } from '../tasks/task-record.ts';
import type { SessionHistory } from './session-history.ts';
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

/** A parent turn in progress, saved after each model answer and each tool batch. */
interface ParentTurnCheckpoint {
  turnId: string;
  messages: ChatMessage[];
  steps: number;
  usage: AgentState['usage'];
  /** Index of the turn's input in `messages`: what follows is new in this turn. */
  firstNew: number;
  /** Set once the turn has its reply: a replay returns it without asking the model again. */
  reply?: string;
  /** Starts of the tool calls under way (see AgentState); absent in checkpoints written before it existed. */
  toolCallStarts?: Record<string, number>;
}

// A turn left unfinished longer than this (its gateway died and no other took over) starts afresh.
const checkpointSeconds = 24 * 3600;

/**
 * Runs one parent turn for a session: history + the new message → tool loop → the reply. Like a
 * child, the turn is checkpointed after every model answer and tool batch, so a gateway that dies
 * mid-turn leaves the next one to resume it: finished steps are not redone, and saved tool calls are
 * replayed with their ids, which keeps dispatch idempotent (no second child).
 */
export class ParentAgent {
  constructor(
    private readonly runtime: BatonRuntime,
    private readonly history: SessionHistory,
  ) {}

  async runTurn(
    sessionKey: string,
    turnId: string,
    origin: TaskOrigin,
    input: ChatMessage,
    signal: AbortSignal,
    /** Who the turn acts for: access to tasks through the tools is decided for them. */
    actor: TaskActor,
    slot?: TurnSlot,
  ): Promise<ParentTurnResult> {
    const { config, redis, keys } = this.runtime;
    const checkpointKey = keys.sessionTurnCheckpoint(sessionKey);
    const raw = await redis.get(checkpointKey);
    const saved = raw ? (JSON.parse(raw) as ParentTurnCheckpoint) : null;
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
      const past = await this.history.load(sessionKey);
      state = {
        messages: [{ role: 'system', content: parentSystemPrompt }, ...past, input],
        steps: 0,
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      };
      firstNew = state.messages.length - 1;
    }
    const save = async (current: AgentState, reply?: string) => {
      const checkpoint: ParentTurnCheckpoint = {
        turnId,
        messages: current.messages,
        steps: current.steps,
        usage: current.usage,
        firstNew,
        ...(reply === undefined ? {} : { reply }),
        ...(current.toolCallStarts ? { toolCallStarts: current.toolCallStarts } : {}),
      };
      await redis.set(checkpointKey, JSON.stringify(checkpoint), 'EX', checkpointSeconds);
    };
    const reply = await runAgentLoop(state, {
      model: this.runtime.modelFor({
        platform: origin.platform,
        channel: origin.channel,
        user: origin.user,
        ...(origin.userName ? { userName: origin.userName } : {}),
        taskId: null,
      }),
      route: config.gateway.parent_route ?? config.models.default_route,
      tools: this.runtime.parentTools(),
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
      hooks: { onToolBatchStart: (current) => save(current), onStepFinish: (current) => save(current) },
    });
    await save(state, reply);
    return { reply, newMessages: state.messages.slice(firstNew) };
  }

  /** Forgets the turn's checkpoint once its results are recorded and posted. */
  async finishTurn(sessionKey: string): Promise<void> {
    await this.runtime.redis.del(this.runtime.keys.sessionTurnCheckpoint(sessionKey));
  }
}
