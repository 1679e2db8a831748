import type { BatonConfig } from '../config/schema.ts';
import { BatonError, describeError, isBatonError } from '../errors.ts';
import { emptyUsage, type ModelClient } from '../llm/model-client.ts';
import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import { RunStopped, type StopReason } from '../tasks/run-stopped.ts';
import type { TaskEventType, TaskRecord } from '../tasks/task-record.ts';
import type { TaskSignals } from '../tasks/task-signals.ts';
import type {
  ClaimedTask,
  ClaimResult,
  TaskCheckpoint,
  TaskStore,
  WriteOutcome,
} from '../tasks/task-store.ts';
import type { Tool } from '../tools/tool.ts';
import { type AgentState, runAgentLoop } from './agent-loop.ts';
import { capSummary, childOpeningMessages, steeringMessage } from './child-prompt.ts';

/** How a run of a child ended, for the job processor. */
export type ChildRunResult =
  | { kind: 'ended'; status: 'completed' | 'failed' | 'cancelled' | 'timed_out' }
  | { kind: 'interrupted' }
  | { kind: 'not-runnable'; reason: string }
  | { kind: 'lost' };

export interface ChildRunnerDependencies {
  config: BatonConfig;
  store: TaskStore;
  signals: TaskSignals;
  model: ModelClient;
  /** The model client of one task (budgets and usage counting); `model` when not given. */
  modelFor?(record: TaskRecord): ModelClient;
  /** The tools a task gets: its toolsets, plus delegation for orchestrators with depth to spare. */
  toolsFor(record: TaskRecord): Tool[];
  logger: Logger;
}

const stepStartText = (step: number) => `step ${step}`;

function throwIfWriteRefused(outcome: WriteOutcome): void {
  if (outcome === 'lost') throw new RunStopped('lost');
  if (outcome === 'refused') throw new RunStopped('cancel');
}

/** Whether this run still has to let go of its task when it returns (see TaskStore.release). */
interface Holding {
  released: boolean;
}

/**
 * Runs (or resumes) one child task to its end. `jobSignal` is the BullMQ job's signal: it aborts on
 * shutdown. `isDraining` says the worker is shutting down, so the child stops at its next step boundary.
 */
export async function runChildTask(
  dependencies: ChildRunnerDependencies,
  taskId: string,
  runnerToken: string,
  jobSignal: AbortSignal | undefined,
  isDraining: () => boolean,
): Promise<ChildRunResult> {
  const { store, signals, config, logger } = dependencies;
  await signals.start();
  const controller = new AbortController();
  const stop = (reason: StopReason) => {
    if (!controller.signal.aborted) controller.abort(new RunStopped(reason));
  };
  // Listening before the claim, on the process's one subscription (already confirmed by start()): a cancel
  // written before the claim makes the claim refuse, and one written after it is published after it, so
  // it reaches this listener. No read of the task is needed in between.
  const unsubscribe = signals.onTask(taskId, (signal) => {
    if (signal.kind === 'cancel') stop('cancel');
  });
  let claim: ClaimResult;
  try {
    claim = await store.claim(taskId, runnerToken, { firstStepEvent: stepStartText(1) });
  } catch (error) {
    unsubscribe();
    throw error;
  }
  if (claim.outcome !== 'ok') {
    unsubscribe();
    return { kind: 'not-runnable', reason: `${claim.outcome} ${claim.previous ?? ''}` };
  }
  const { record } = claim;
  const log = logger.child({ taskId, attempt: record.attempts });
  const onJobAbort = () => stop('shutdown');
  jobSignal?.addEventListener('abort', onJobAbort, { once: true });
  const remainingMs =
    config.delegation.child_timeout_s * 1000 - (Date.now() - (record.startedAt ?? Date.now()));
  const wallClock = setTimeout(() => stop('timeout'), Math.max(0, remainingMs));
  const holding: Holding = { released: false };
  try {
    if (jobSignal?.aborted) stop('shutdown');
    return await runToEnd(dependencies, claim, runnerToken, controller.signal, isDraining, holding, log);
  } catch (error) {
    return await settleFailure(dependencies, taskId, runnerToken, controller.signal, error, holding, log);
  } finally {
    clearTimeout(wallClock);
    unsubscribe();
    jobSignal?.removeEventListener('abort', onJobAbort);
    // A terminal write of this runner (complete, or a transition with `release`) has let go already.
    if (!holding.released) {
      await store
        .release(taskId, runnerToken)
        .catch((error: unknown) => log.warn({ err: error }, 'release failed'));
    }
  }
}

async function runToEnd(
  dependencies: ChildRunnerDependencies,
  claim: ClaimedTask,
  runnerToken: string,
  signal: AbortSignal,
  isDraining: () => boolean,
  holding: Holding,
  log: Logger,
): Promise<ChildRunResult> {
  const { store, config } = dependencies;
  const { record } = claim;
  const model = dependencies.modelFor?.(record) ?? dependencies.model;
  const tools = dependencies.toolsFor(record);
  // Checkpoints are only written while a task runs, so a task claimed from 'queued' has none.
  const checkpointed = claim.previous === 'queued' ? null : await store.loadCheckpoint(record.id);
  const saved: TaskCheckpoint = checkpointed ?? {
    messages: childOpeningMessages(
      record.goal,
      record.context,
      tools.map((tool) => tool.name),
    ),
    steps: 0,
    usage: emptyUsage(),
    inboxCursor: '0-0',
  };
  if (saved.steps > 0) log.info({ steps: saved.steps }, 'resuming child from its checkpoint');
  const state: AgentState = {
    messages: saved.messages,
    steps: saved.steps,
    usage: saved.usage,
    ...(saved.toolCallStarts ? { toolCallStarts: saved.toolCallStarts } : {}),
  };
  let inboxCursor = saved.inboxCursor;
  // An inbox that was empty at the claim has nothing to apply before the first step. A steer sent after
  // the claim is still applied: the complete script refuses while the inbox holds an unread message.
  let skipNextInboxRead = claim.inboxLength === 0;
  // A fresh task with an empty inbox goes straight to step 1: the claim recorded that step's start.
  let firstStepRecorded = claim.firstStepRecorded;

  const applySteers = async (): Promise<number> => {
    const steers = await store.readInbox(record.id, inboxCursor);
    for (const steer of steers) {
      state.messages.push(steeringMessage(steer));
      inboxCursor = steer.id;
    }
    if (steers.length > 0) {
      await store.appendEvents(
        steers.map((steer) => [
          record.id,
          'steer-applied',
          `from ${steer.from}: ${steer.text.slice(0, 200)}`,
        ]),
      );
    }
    return steers.length;
  };
  // Progress events are not awaited (the step goes on), but a failed write must not become an unhandled rejection.
  const recordEvent = (type: TaskEventType, text: string) => {
    store.appendEvent(record.id, type, text).catch((error: unknown) => {
      log.debug({ err: error, type }, 'task event not recorded');
    });
  };
  const checkpoint = async (current: AgentState) => {
    const outcome = await store.saveCheckpoint(record.id, runnerToken, {
      messages: current.messages,
      steps: current.steps,
      usage: current.usage,
      inboxCursor,
      ...(current.toolCallStarts ? { toolCallStarts: current.toolCallStarts } : {}),
    });
    throwIfWriteRefused(outcome);
  };

  let finalText: string;
  try {
    finalText = await runAgentLoop(state, {
      model,
      route: record.route,
      tools,
      toolContext: {
        sessionKey: record.sessionKey,
        origin: record.origin,
        callerTaskId: record.id,
        depth: record.depth,
        signal,
      },
      toolTimeoutMs: config.delegation.tool_timeout_s * 1000,
      maxIterations: config.delegation.max_iterations,
      maxTotalTokens: config.delegation.max_tokens_per_task,
      hooks: {
        async beforeStep() {
          if (isDraining()) throw new RunStopped('shutdown');
          if (skipNextInboxRead) {
            skipNextInboxRead = false;
            return;
          }
          await applySteers();
        },
        onStepStart(step) {
          if (step === 1 && firstStepRecorded) {
            firstStepRecorded = false;
            return;
          }
          recordEvent('step-start', stepStartText(step));
        },
        onToolCall(name, argumentsText) {
          recordEvent('tool-call', `${name} ${redactSecrets(argumentsText).slice(0, 200)}`);
        },
        onToolResult(outcome) {
          const verdict = outcome.ok ? `ok (${outcome.content.length} chars)` : outcome.content.slice(0, 200);
          recordEvent('tool-result', `${outcome.call.function.name} ${verdict}`);
        },
        // Saved before the tools run too, so a crash mid-batch resumes with the same tool calls
        // instead of asking the model again (which would mint new calls and redo side effects), and
        // knows they were started (see AgentState.toolCallStarts).
        afterModelResponse(current) {
          return checkpoint(current);
        },
        afterStep(current) {
          return checkpoint(current);
        },
        async onFinal(current, content) {
          const outcome = await store.complete(record.id, runnerToken, {
            inboxCursor,
            summary: capSummary(content, config.delegation.max_summary_chars),
            fullText: content,
            steps: current.steps,
            usage: current.usage,
          });
          if (outcome === 'ok') {
            holding.released = true;
            return 'finish';
          }
          if (outcome === 'pending_steer') {
            await applySteers();
            return 'continue';
          }
          throwIfWriteRefused(outcome);
          return 'finish';
        },
      },
    });
  } catch (error) {
    if (!isBatonError(error, 'budget_exhausted')) throw error;
    // A budget ran out before a model call: the task ends now, and its result says so and carries what
    // it had done, rather than stopping silently.
    const partial = partialWork(state);
    const written = await store.transition(record.id, 'failed', {
      error: `${error.message}. Stopped after ${state.steps} step(s); partial work:\n${partial}`,
      summary: partial,
      runnerToken,
      release: true,
    });
    holding.released = written.released;
    log.warn({ steps: state.steps }, 'child stopped: budget exhausted');
    return { kind: 'ended', status: 'failed' };
  }
  log.info({ steps: state.steps, chars: finalText.length }, 'child completed');
  return { kind: 'ended', status: 'completed' };
}

/** What a child stopped early had: its last words, or else the tools it had called. */
function partialWork(state: AgentState): string {
  const assistant = state.messages.filter((message) => message.role === 'assistant');
  const lastText = assistant
    .map((message) => message.content ?? '')
    .filter((text) => text.trim() !== '')
    .at(-1);
  if (lastText) return lastText;
  const calls = assistant.flatMap((message) => message.tool_calls ?? []).map((call) => call.function.name);
  return calls.length > 0 ? `(no text yet; tools called: ${calls.join(', ')})` : '(nothing yet)';
}

async function settleFailure(
  dependencies: ChildRunnerDependencies,
  taskId: string,
  runnerToken: string,
  signal: AbortSignal,
  error: unknown,
  holding: Holding,
  log: Logger,
): Promise<ChildRunResult> {
  const { store, config } = dependencies;
  const stopped =
    error instanceof RunStopped ? error : signal.reason instanceof RunStopped ? signal.reason : null;
  if (stopped?.reason === 'shutdown') return { kind: 'interrupted' };
  if (stopped?.reason === 'lost') return { kind: 'lost' };
  // The run is over either way: end the task and let go of it in one script.
  const end = async (
    status: 'cancelled' | 'timed_out' | 'failed',
    details: { error?: string; note?: string },
  ) => {
    const written = await store.transition(taskId, status, { ...details, runnerToken, release: true });
    holding.released = written.released;
  };
  if (stopped?.reason === 'cancel') {
    await end('cancelled', { note: 'stopped' });
    return { kind: 'ended', status: 'cancelled' };
  }
  if (stopped?.reason === 'timeout') {
    const message = `ran longer than delegation.child_timeout_s (${config.delegation.child_timeout_s} s)`;
    await end('timed_out', { error: message });
    return { kind: 'ended', status: 'timed_out' };
  }
  if (isBatonError(error) && error.fault !== 'system') {
    const message = redactSecrets(describeError(error));
    log.warn({ code: error.code, message }, 'child failed');
    await end('failed', { error: message });
    return { kind: 'ended', status: 'failed' };
  }
  // Unexpected (a bug, Redis trouble): let BullMQ retry the job; it resumes from the checkpoint.
  log.error({ err: error }, 'child run crashed; the job will be retried from its checkpoint');
  throw error instanceof Error ? error : new BatonError('tool_failed', describeError(error));
}
