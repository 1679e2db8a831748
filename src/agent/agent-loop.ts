import { randomUUID } from 'node:crypto';
import {
  addUsage,
  type ChatMessage,
  type ModelClient,
  type TokenUsage,
  type ToolCall,
} from '../llm/model-client.ts';
import type { Tool, ToolContext } from '../tools/tool.ts';
import { toToolDefinition } from '../tools/tool.ts';
import { executeToolCall, type ToolCallOutcome } from './execute-tool-call.ts';

/** The agent's conversation and counters; owned by the caller so it can be checkpointed and resumed. */
export interface AgentState {
  messages: ChatMessage[];
  /** Finished steps (model call plus its tool batch). */
  steps: number;
  usage: TokenUsage;
  /**
   * How many times each call of the tool batch under way was started. A call still listed when a run
   * resumes was interrupted mid-call; see resumeToolBatch. Absent when no batch is under way.
   */
  toolCallStarts?: Record<string, number>;
}

/**
 * What becomes of one tool call before its batch starts: it runs (`approvedBy` names the person who
 * approved it, when it needed approval), or it is settled without running (an ask_user answer, a denied
 * approval). A call that must wait for a person does not return: the hook parks the run (it throws).
 */
export type ToolCallGate =
  | { kind: 'run'; approvedBy?: string }
  | { kind: 'settled'; outcome: ToolCallOutcome };

/** How one step ended: the closed set of outcomes the loop acts on. */
export type StepOutcome =
  | { kind: 'tool-calls'; outcomes: ToolCallOutcome[] }
  | { kind: 'final'; content: string };

/**
 * What the caller does around the loop's steps, in the shape of the Vercel AI SDK's `prepareStep` /
 * `onStepFinish`: four points, each with the state as it is there. Every hook is optional.
 */
export interface AgentLoopHooks {
  /** Before each model call; `step` is the number of the step about to start (1-based). Apply steers here. */
  prepareStep?(state: AgentState, step: number): Promise<void>;
  /**
   * Before a tool batch runs, with `calls` (those about to run) marked started in `toolCallStarts`: after a
   * model response with tool calls, and on resume before interrupted calls are run again. Checkpoint here,
   * so a crash mid-batch resumes these calls instead of asking the model again (which would mint new calls
   * and redo side effects), and knows they were started.
   */
  onToolBatchStart?(state: AgentState, calls: ToolCall[]): Promise<void>;
  /**
   * Before a tool call of a batch is first started, in order (and again, with `started`, before an
   * interrupted retry-safe call runs again): whether it runs, is settled without running, or waits for a
   * person (the hook then saves the run and throws, and the call is asked again when the run resumes).
   */
  gateToolCall?(state: AgentState, call: ToolCall, started: boolean): Promise<ToolCallGate>;
  /** After every finished step, with what it did (its tool calls and their results): checkpoint here. */
  onStepFinish?(state: AgentState, outcome: StepOutcome): Promise<void>;
  /**
   * Asked when the model gives a final answer. 'continue' means new input arrived (a steer) and was
   * appended, so the agent takes another step instead of ending without it.
   */
  onFinal?(state: AgentState, content: string): Promise<'finish' | 'continue'>;
}

export interface AgentLoopOptions {
  model: ModelClient;
  route: string;
  tools: Tool[];
  toolContext: ToolContext;
  toolTimeoutMs: number;
  maxIterations: number;
  /** Token budget (prompt + completion) across the run; once spent, the next call is the final one. */
  maxTotalTokens?: number | null;
  hooks?: AgentLoopHooks;
}

const finalAnswerRequest =
  'Do not call tools. Reply now with your final answer: what you found, what is done and what is not.';
const finalStepNote = `You have reached your step limit. ${finalAnswerRequest}`;
const budgetSpentNote = `You have used your token budget. ${finalAnswerRequest}`;

/**
 * Most starts of one tool call, retry-safe or not: a page that kills every worker fetching it must not be
 * fetched forever, each takeover by another worker starting it again.
 */
export const maxToolCallStarts = 2;

/** Runs model ⇄ tools steps until the model answers without tool calls; returns that answer. */
export async function runAgentLoop(state: AgentState, options: AgentLoopOptions): Promise<string> {
  const { model, hooks, toolContext } = options;
  const toolsByName = new Map(options.tools.map((tool) => [tool.name, tool]));
  const toolDefinitions = options.tools.map(toToolDefinition);
  while (true) {
    const pending = pendingToolCalls(state.messages);
    if (pending.length > 0) {
      // Resumed after a crash between the model's answer and the end of its tool batch.
      await resumeToolBatch(state, pending, toolsByName, options);
      continue;
    }
    await hooks?.prepareStep?.(state, state.steps + 1);
    toolContext.signal.throwIfAborted();
    const budgetSpent = options.maxTotalTokens != null && state.usage.total_tokens >= options.maxTotalTokens;
    const lastAllowedStep = budgetSpent || state.steps >= options.maxIterations - 1;
    if (lastAllowedStep && toolDefinitions.length > 0) {
      state.messages.push({ role: 'user', content: budgetSpent ? budgetSpentNote : finalStepNote });
    }
    const response = await model.complete({
      route: options.route,
      messages: state.messages,
      tools: lastAllowedStep ? [] : toolDefinitions,
      signal: toolContext.signal,
    });
    state.usage = addUsage(state.usage, response.usage);
    const toolCalls = lastAllowedStep
      ? []
      : uniqueToolCallIds(state.messages, response.message.tool_calls ?? []);
    if (toolCalls.length === 0) {
      const content = response.message.content ?? '';
      state.messages.push({ role: 'assistant', content });
      state.steps += 1;
      const decision = (await hooks?.onFinal?.(state, content)) ?? 'finish';
      if (decision === 'finish') return content;
      // A steer arrived with the final answer: keep both in the conversation and take another step.
      await hooks?.onStepFinish?.(state, { kind: 'final', content });
      continue;
    }
    state.messages.push({
      role: 'assistant',
      content: response.message.content ?? null,
      tool_calls: toolCalls,
    });
    // None started yet: each call passes its gate first (see resumeToolBatch).
    state.toolCallStarts = {};
    await resumeToolBatch(state, toolCalls, toolsByName, options);
  }
}

/**
 * Runs a batch whose calls have no result yet: a fresh one, one resumed after a wait for a person, or one
 * whose run stopped mid-call. A call not yet started passes its gate (it runs, is settled without running,
 * or parks the run). A call started before is run again only when its tool is retry-safe and it has not
 * been started `maxToolCallStarts` times; any other gets a tool error saying it was interrupted, so a
 * terminal command is never run twice.
 */
async function resumeToolBatch(
  state: AgentState,
  pending: ToolCall[],
  toolsByName: ReadonlyMap<string, Tool>,
  options: AgentLoopOptions,
): Promise<void> {
  const { hooks } = options;
  // Checkpoints written before starts were recorded hold no count; their batch was started right after.
  const legacy = state.toolCallStarts === undefined;
  const starts = state.toolCallStarts ?? {};
  const settled = new Map<string, ToolCallOutcome>();
  const approvals = new Map<string, string>();
  const startedBefore = new Map<string, number>();
  for (const call of pending) {
    const started = starts[call.id] ?? (legacy ? 1 : 0);
    startedBefore.set(call.id, started);
    if (started > 0) {
      const tool = toolsByName.get(call.function.name);
      // An unknown tool ran nothing; executeToolCall reports it.
      const retrySafe = tool ? tool.retrySafe === true : true;
      if (!retrySafe || started >= maxToolCallStarts) {
        settled.set(call.id, interruptedOutcome(call, started, retrySafe));
        continue;
      }
    }
    const gate = (await hooks?.gateToolCall?.(state, call, started > 0)) ?? { kind: 'run' };
    if (gate.kind === 'settled') settled.set(call.id, gate.outcome);
    else if (gate.approvedBy !== undefined) approvals.set(call.id, gate.approvedBy);
  }
  const toRun = pending.filter((call) => !settled.has(call.id));
  for (const call of toRun) starts[call.id] = (startedBefore.get(call.id) ?? 0) + 1;
  state.toolCallStarts = starts;
  if (toRun.length > 0) await hooks?.onToolBatchStart?.(state, toRun);
  await runToolBatch(state, pending, settled, toolsByName, options, approvals);
}

function interruptedOutcome(call: ToolCall, started: number, retrySafe: boolean): ToolCallOutcome {
  const error = retrySafe
    ? `the call was interrupted ${started} times (the worker stopped mid-call each time); it was not run ` +
      'again. The input may be what stops the worker: do not repeat it as is.'
    : 'the call was interrupted (the worker stopped mid-call); it was not run again. It may or may not have ' +
      'taken effect: check before repeating it.';
  return { call, ok: false, content: JSON.stringify({ error }) };
}

/** Runs the batch's calls, except those already `settled`, and records every result in order. */
async function runToolBatch(
  state: AgentState,
  toolCalls: ToolCall[],
  settled: ReadonlyMap<string, ToolCallOutcome>,
  toolsByName: ReadonlyMap<string, Tool>,
  options: AgentLoopOptions,
  approvals: ReadonlyMap<string, string>,
): Promise<void> {
  const { hooks, toolContext } = options;
  const outcomes = await Promise.all(
    toolCalls.map((call) => {
      const approvedBy = approvals.get(call.id);
      const context = approvedBy === undefined ? toolContext : { ...toolContext, approvedBy };
      return settled.get(call.id) ?? executeToolCall(call, toolsByName, context, options.toolTimeoutMs);
    }),
  );
  for (const outcome of outcomes) {
    state.messages.push({ role: 'tool', tool_call_id: outcome.call.id, content: outcome.content });
  }
  delete state.toolCallStarts;
  state.steps += 1;
  await hooks?.onStepFinish?.(state, { kind: 'tool-calls', outcomes });
}

/**
 * Gives every tool call an id unique in the conversation. Some compatible servers send none, or reuse
 * `call_0` every step; ids key idempotent effects (a replayed dispatch), so they must not repeat.
 */
function uniqueToolCallIds(messages: ChatMessage[], toolCalls: ToolCall[]): ToolCall[] {
  const seen = new Set<string>();
  for (const message of messages) {
    if (message.role === 'assistant') for (const call of message.tool_calls ?? []) seen.add(call.id);
  }
  return toolCalls.map((call) => {
    let id = call.id;
    if (!id || seen.has(id)) id = `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    seen.add(id);
    return id === call.id ? call : { ...call, id };
  });
}

/** Tool calls of the last assistant message that have no result yet (none in a settled conversation). */
function pendingToolCalls(messages: ChatMessage[]): ToolCall[] {
  const last = messages.at(-1);
  if (last?.role !== 'assistant' || !last.tool_calls?.length) return [];
  return last.tool_calls;
}
