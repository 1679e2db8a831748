import type { BatonConfig } from '../config/schema.ts';
import { BatonError, describeError, isBatonError } from '../errors.ts';
import { emptyUsage, type ModelClient, type ToolCall } from '../llm/model-client.ts';
import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import type { UsageWrite } from '../redis/usage-write.ts';
import { checkOutput } from '../tasks/output-schema.ts';
import { RunStopped } from '../tasks/run-stopped.ts';
import type { TaskCheckpoint } from '../tasks/task-checkpoint.ts';
import { roundOf, type StructuredResult, type TaskEventType, type TaskRecord } from '../tasks/task-record.ts';
import type { TaskSignals } from '../tasks/task-signals.ts';
import type { ClaimedTask, TaskStore, WriteOutcome } from '../tasks/task-store.ts';
import { cutText } from '../text/cut-text.ts';
import type { Tool, WorkspaceAccess } from '../tools/tool.ts';
import { changeLine, mayHaveChangedFiles, needsWorkspace } from '../tools/workspace/workspace-change.ts';
import type { OpenWorkspace, WorkspaceStore } from '../tools/workspace/workspace-store.ts';
import { type AgentLoopHooks, type AgentState, runAgentLoop, type StepOutcome } from './agent-loop.ts';
import {
  capSummary,
  childOpeningMessages,
  hasSchemaCorrection,
  schemaCorrectionMessage,
  steeringMessage,
} from './child-prompt.ts';
import { ChildPrompts, RunParked } from './child-prompts.ts';

/** Longest text of one task event (a steer, a tool call's arguments, a tool's error), in characters. */
const eventTextChars = 200;

/** How a run of a child ended, for the job processor. */
export type ChildRunResult =
  | { kind: 'ended'; status: 'completed' | 'failed' | 'cancelled' | 'timed_out' }
  | { kind: 'interrupted' }
  /** Waiting for a person: the task is parked, its job ends, and a resume job brings it back. */
  | { kind: 'parked'; status: 'waiting_input' | 'waiting_approval'; round: number }
  | { kind: 'not-runnable'; reason: string }
  | { kind: 'lost' };

export interface ChildRunnerDependencies {
  config: BatonConfig;
  store: TaskStore;
  signals: TaskSignals;
  model: ModelClient;
  /**
   * The model client of one task (budgets and usage counting); `model` when not given. Each call's usage
   * goes to `deferUsage`: the run hands it to the write that ends the step (checkpoint or completion).
   */
  modelFor?(record: TaskRecord, deferUsage: (write: UsageWrite) => void): ModelClient;
  /** Counts a call's usage that no step-end write took (a run that stopped in between). */
  recordUsage?(write: UsageWrite): Promise<void>;
  /**
   * The tools a task gets: its toolsets, plus delegation for orchestrators with depth to spare. Loading may
   * wait for an MCP server to start; `signal` is the run's.
   */
  toolsFor(record: TaskRecord, signal: AbortSignal): Tool[] | Promise<Tool[]>;
  /** Checkouts for children with a workspace or with the terminal and file toolsets. */
  workspaces?: WorkspaceStore;
  /**
   * Adds the job that resumes a task parked on prompt `round`, due after `delayMs` (TaskQueue.enqueueResume).
   * Without it a child cannot wait for a person: ask_user and approvals get a tool error instead.
   */
  scheduleResume?(taskId: string, round: number, delayMs: number): Promise<void>;
  logger: Logger;
}

/** What a run needs besides the claim: `signal` aborts it (cancel, time-out, shutdown). */
export interface ChildRunOptions {
  runnerToken: string;
  signal: AbortSignal;
  /** True once the worker is shutting down: the child stops at its next step boundary. */
  isDraining(): boolean;
  logger: Logger;
}

export const stepStartText = (step: number) => `step ${step}`;

function throwIfWriteRefused(outcome: WriteOutcome): void {
  if (outcome === 'lost') throw new RunStopped('lost');
  if (outcome === 'refused') throw new RunStopped('cancel');
}

/**
 * One run of a claimed child task, from its claim to its end: resumes the agent from the task's checkpoint,
 * applies steers at step boundaries, checkpoints, and ends the task (completed, out of budget, cancelled,
 * timed out, failed), or leaves it to another worker (shutdown, lost ownership). It holds the task
 * (`runnerToken`) until a terminal write lets go of it, or `run` releases it on the way out.
 */
export class ChildRun {
  private readonly record: TaskRecord;
  private readonly store: TaskStore;
  private readonly log: Logger;
  /** The agent's conversation; set from the checkpoint (or the opening prompt) when the run starts. */
  private state: AgentState = { messages: [], steps: 0, usage: emptyUsage() };
  /** Id of the last steering message placed in the conversation ('0-0' for none). */
  private inboxCursor = '0-0';
  /** False once a terminal write of this runner (complete, or a transition with `release`) let go of the task. */
  private holding = true;
  /**
   * An inbox that was empty at the claim has nothing to apply before the first step. A steer sent after
   * the claim is still applied: the complete script refuses while the inbox holds an unread message.
   */
  private skipNextInboxRead: boolean;
  /** A fresh task with an empty inbox goes straight to step 1: the claim recorded that step's start. */
  private firstStepRecorded: boolean;
  /** The usage of the last model call, until the write that ends its step counts it. */
  private pendingUsage: UsageWrite | null = null;
  /** This run's checkout (or scratch directory), when the task has one. */
  private workspace: OpenWorkspace | null = null;
  /** The commit of the checkout as of the last finished step, recorded in each checkpoint. */
  private workspaceCommit: string | null = null;
  /** How the run ended, so the checkout is removed only when no other run may still be using it. */
  private outcome: ChildRunResult | null = null;
  /** The gate of calls waiting for a person (ask_user, approvals); set when the run starts. */
  private prompts: ChildPrompts | null = null;

  constructor(
    private readonly dependencies: ChildRunnerDependencies,
    private readonly claim: ClaimedTask,
    private readonly options: ChildRunOptions,
  ) {
    this.record = claim.record;
    this.store = dependencies.store;
    this.log = options.logger;
    this.skipNextInboxRead = claim.inboxLength === 0;
    this.firstStepRecorded = claim.firstStepRecorded;
  }

  /** Runs the child to its end or interruption; never returns still holding the task. */
  async run(): Promise<ChildRunResult> {
    try {
      this.outcome = await this.runToEnd();
      return this.outcome;
    } catch (error) {
      this.outcome = await this.settleFailure(error);
      return this.outcome;
    } finally {
      await this.recordPendingUsage();
      await this.closeWorkspace();
      if (this.holding) {
        await this.store
          .release(this.record.id, this.options.runnerToken)
          .catch((error: unknown) => this.log.warn({ err: error }, 'release failed'));
      }
    }
  }

  private async runToEnd(): Promise<ChildRunResult> {
    const { config } = this.dependencies;
    const model =
      this.dependencies.modelFor?.(this.record, (write) => this.deferUsage(write)) ?? this.dependencies.model;
    const tools = await this.dependencies.toolsFor(this.record, this.options.signal);
    this.prompts = new ChildPrompts({
      config,
      store: this.store,
      record: this.record,
      runnerToken: this.options.runnerToken,
      tools,
      ...(this.dependencies.scheduleResume
        ? { scheduleResume: this.dependencies.scheduleResume.bind(this.dependencies) }
        : {}),
      checkpoint: () => this.checkpoint(),
      released: () => {
        this.holding = false;
      },
      ...(this.record.workspace ? { workspace: this.record.workspace } : {}),
      logger: this.log,
    });
    await this.resume(tools);
    await this.openWorkspace(tools);
    let finalText: string;
    try {
      finalText = await runAgentLoop(this.state, {
        model,
        route: this.record.route,
        tools,
        toolContext: {
          sessionKey: this.record.sessionKey,
          origin: this.record.origin,
          callerTaskId: this.record.id,
          depth: this.record.depth,
          signal: this.options.signal,
          ...(this.workspace ? { workspace: workspaceAccess(this.workspace) } : {}),
        },
        toolTimeoutMs: config.delegation.tool_timeout_s * 1000,
        // Each round of a reopened task gets the whole allowance.
        maxIterations: config.delegation.max_iterations + (this.record.roundStartSteps ?? 0),
        maxTotalTokens: config.delegation.max_tokens_per_task,
        hooks: this.hooks(),
      });
    } catch (error) {
      if (!isBatonError(error, 'budget_exhausted')) throw error;
      return await this.exhaustBudget(error);
    }
    this.log.info({ steps: this.state.steps, chars: finalText.length }, 'child completed');
    return { kind: 'ended', status: 'completed' };
  }

  /**
   * Every model call is followed by a step-end write (the checkpoint before its tool batch, or the
   * completion) before the next call, so at most one is pending; should another come first, the older is
   * counted on its own.
   */
  private deferUsage(write: UsageWrite): void {
    if (this.pendingUsage) void this.recordPendingUsage();
    this.pendingUsage = write;
  }

  /** The pending usage, for the write about to run, which counts it whatever its outcome. */
  private takeUsage(): UsageWrite | null {
    const write = this.pendingUsage;
    this.pendingUsage = null;
    return write;
  }

  /** Counts a usage no step-end write took (the run stopped between a model call and its write). */
  private async recordPendingUsage(): Promise<void> {
    const write = this.takeUsage();
    if (!write || !this.dependencies.recordUsage) return;
    await this.dependencies
      .recordUsage(write)
      .catch((error: unknown) => this.log.warn({ err: error }, 'usage not recorded'));
  }

  /**
   * Starts from the task's checkpoint, or from the opening prompt for a task that has none. A new round of a
   * reopened task goes on from the conversation of the round before (see reopenedRound).
   */
  private async resume(tools: Tool[]): Promise<void> {
    const round = roundOf(this.record);
    // Checkpoints are only written while a task runs, so a task claimed from 'queued' has none, unless it
    // is back from a wait for a person (it has a prompt) or reopened for a follow-up round (its earlier
    // round's is kept).
    const fresh = this.claim.previous === 'queued' && this.record.prompt === undefined && round === 1;
    const checkpointed = fresh ? null : await this.store.loadCheckpoint(this.record.id);
    let saved: TaskCheckpoint = checkpointed ?? {
      messages: childOpeningMessages(
        this.record.goal,
        this.record.context,
        tools.map((tool) => tool.name),
        this.record.outputSchema,
      ),
      steps: 0,
      usage: emptyUsage(),
      inboxCursor: '0-0',
    };
    if ((saved.followUpRound ?? 1) < round) saved = await this.reopenedRound(saved, round);
    if (saved.steps > 0) this.log.info({ steps: saved.steps, round }, 'resuming child from its checkpoint');
    this.state = {
      messages: saved.messages,
      steps: saved.steps,
      usage: saved.usage,
      ...(saved.toolCallStarts ? { toolCallStarts: saved.toolCallStarts } : {}),
    };
    this.inboxCursor = saved.inboxCursor;
    this.workspaceCommit = saved.workspaceCommit ?? null;
    this.prompts?.restore(saved.toolDecisions);
  }

  /**
   * The conversation a reopened task's new round starts from: the earlier round's, which ends before its
   * final answer (that was never checkpointed: completing the task stored it), so the answer is put back.
   * The follow-up comes next from the inbox: every steer up to `roundInboxCursor` was applied before the
   * earlier round completed.
   */
  private async reopenedRound(saved: TaskCheckpoint, round: number): Promise<TaskCheckpoint> {
    const answer = (await this.store.lastAnswer(this.record.id)) ?? '';
    const cursor = this.record.roundInboxCursor ?? saved.inboxCursor;
    this.log.info({ round, steps: saved.steps }, 'reopened: going on from the earlier round');
    // The earlier round's people's responses belong to calls it finished.
    const { toolDecisions: _settled, ...earlier } = saved;
    return {
      ...earlier,
      messages: [...saved.messages, { role: 'assistant', content: answer }],
      steps: Math.max(saved.steps, this.record.roundStartSteps ?? 0),
      inboxCursor: cursor,
      followUpRound: round,
    };
  }

  /**
   * Checks the task's workspace out as of its checkpoint (so no finished step's change is lost and none
   * is applied twice), or a fresh checkout of the source for a task that has none yet.
   */
  private async openWorkspace(tools: Tool[]): Promise<void> {
    const { workspaces } = this.dependencies;
    if (!workspaces || !needsWorkspace(this.record, tools)) return;
    try {
      this.workspace = await workspaces.open(
        this.record.id,
        this.record.workspace ?? null,
        this.workspaceCommit,
        this.options.runnerToken.replace(/[^A-Za-z0-9]/g, '').slice(-12),
      );
    } catch (error) {
      // A source that cannot be read fails the same way on every retry: end the task, saying why.
      throw new BatonError(
        'workspace_failed',
        `the workspace could not be prepared: ${describeError(error)}`,
        {
          fault: 'user',
          cause: error,
        },
      );
    }
    this.workspaceCommit = this.workspace.commit;
  }

  /** Removes this run's checkout once the run is over; the task's ref in the store keeps its state. */
  private async closeWorkspace(): Promise<void> {
    const workspace = this.workspace;
    if (!workspace || !this.dependencies.workspaces) return;
    // A lost run's task belongs to another run now; a scratch directory is kept until the task ends.
    if (this.outcome?.kind === 'lost') return;
    if (workspace.name === null && this.outcome?.kind !== 'ended') return;
    await this.dependencies.workspaces
      .close(workspace)
      .catch((error: unknown) => this.log.warn({ err: error }, 'workspace not removed'));
  }
  private hooks(): AgentLoopHooks {
    return {
      prepareStep: (_state, step) => this.prepareStep(step),
      onToolBatchStart: (_state, calls) => this.startToolBatch(calls),
      gateToolCall: (_state, call, started) => this.prompts!.gate(call, started),
      onStepFinish: (_state, outcome) => this.finishStep(outcome),
      onFinal: (_state, content) => this.finish(content),
    };
  }

  /** Before each model call: stop if the worker drains, apply steers, record the step's start. */
  private async prepareStep(step: number): Promise<void> {
    if (this.options.isDraining()) throw new RunStopped('shutdown');
    if (this.skipNextInboxRead) this.skipNextInboxRead = false;
    else await this.applySteers();
    // A stopped run starts no step, so it records none.
    this.options.signal.throwIfAborted();
    if (step === 1 && this.firstStepRecorded) {
      this.firstStepRecorded = false;
      return;
    }
    this.recordEvent('step-start', stepStartText(step));
  }

  /** Appends the steers that arrived since the cursor to the conversation; returns how many. */
  private async applySteers(): Promise<number> {
    const steers = await this.store.readInbox(this.record.id, this.inboxCursor);
    for (const steer of steers) {
      this.state.messages.push(steeringMessage(steer));
      this.inboxCursor = steer.id;
    }
    if (steers.length > 0) {
      await this.store.appendEvents(
        steers.map((steer) => [
          this.record.id,
          'steer-applied',
          `from ${steer.from}: ${cutText(steer.text, eventTextChars, { marker: '' })}`,
        ]),
      );
    }
    return steers.length;
  }

  /** A tool batch is about to run: saved first (with its calls marked started), then its calls recorded. */
  private async startToolBatch(calls: ToolCall[]): Promise<void> {
    await this.checkpoint();
    for (const call of calls) {
      this.recordEvent(
        'tool-call',
        `${call.function.name} ${cutText(redactSecrets(call.function.arguments), eventTextChars, { marker: '' })}`,
      );
    }
  }

  /** A step ended: its tool results recorded, then the conversation saved. */
  private async finishStep(outcome: StepOutcome): Promise<void> {
    if (outcome.kind === 'tool-calls') {
      this.prompts?.clear();
      for (const result of outcome.outcomes) {
        const verdict = result.ok
          ? `ok (${result.content.length} chars)`
          : cutText(result.content, eventTextChars, { marker: '' });
        this.recordEvent('tool-result', `${result.call.function.name} ${verdict}`);
      }
    }
    // The step's file changes are committed before the checkpoint names the commit: a resume from this
    // checkpoint finds them, and one from an earlier checkpoint does not.
    // A step of reads and searches changed nothing: no scan of the tree, no commit.
    const toolNames =
      outcome.kind === 'tool-calls' ? outcome.outcomes.map((result) => result.call.function.name) : [];
    if (this.workspace && this.dependencies.workspaces && mayHaveChangedFiles(toolNames)) {
      this.workspaceCommit = await this.dependencies.workspaces.commitStep(
        this.record.id,
        this.workspace,
        this.state.steps,
      );
    }
    await this.checkpoint();
  }

  /** Saves the conversation so a run that stops resumes from here; throws if the task is no longer ours. */
  private async checkpoint(): Promise<void> {
    const outcome = await this.store.saveCheckpoint(
      this.record.id,
      this.options.runnerToken,
      {
        messages: this.state.messages,
        steps: this.state.steps,
        usage: this.state.usage,
        inboxCursor: this.inboxCursor,
        ...(this.state.toolCallStarts ? { toolCallStarts: this.state.toolCallStarts } : {}),
        ...(this.workspaceCommit ? { workspaceCommit: this.workspaceCommit } : {}),
        ...(roundOf(this.record) > 1 ? { followUpRound: roundOf(this.record) } : {}),
        ...(this.prompts && Object.keys(this.prompts.decisions).length > 0
          ? { toolDecisions: this.prompts.decisions }
          : {}),
      },
      this.takeUsage(),
    );
    throwIfWriteRefused(outcome);
  }

  /**
   * The model answered: complete the task with that answer, unless a steer arrived after the cursor
   * (the complete script refuses then): it is applied and the agent goes on.
   */
  private async finish(answer: string): Promise<'finish' | 'continue'> {
    let structured: StructuredResult | undefined;
    if (this.record.outputSchema) {
      const check = checkOutput(this.record.outputSchema, answer);
      if (check.valid) structured = { schemaValid: true, output: check.output };
      else if (!hasSchemaCorrection(this.state.messages)) {
        // One correction turn, with what did not match; the loop saves the conversation and goes on.
        this.state.messages.push(schemaCorrectionMessage(check.errors));
        this.recordEvent('note', `answer does not match output_schema (${check.errors.length} error(s))`);
        return 'continue';
      } else structured = { schemaValid: false, errors: check.errors };
    }
    const content = await this.withWorkspaceChange(answer);
    const outcome = await this.store.complete(
      this.record,
      this.options.runnerToken,
      {
        inboxCursor: this.inboxCursor,
        summary: capSummary(content, this.dependencies.config.delegation.max_summary_chars),
        fullText: content,
        steps: this.state.steps,
        usage: this.state.usage,
        ...(structured ? { structured } : {}),
      },
      this.takeUsage(),
    );
    if (outcome === 'ok') {
      this.holding = false;
      return 'finish';
    }
    if (outcome === 'pending_steer') {
      await this.applySteers();
      return 'continue';
    }
    throwIfWriteRefused(outcome);
    return 'finish';
  }

  /**
   * A clean finish of a task with a workspace: its change is published (branch baton/<id> with
   * `merge: branch`), recorded on the task for boards, and stated on a last line of its result.
   */
  private async withWorkspaceChange(answer: string): Promise<string> {
    const { workspaces } = this.dependencies;
    const name = this.workspace?.name;
    if (!workspaces || !name) return answer;
    const change = await workspaces.publish(this.record.id, name);
    if (!change) return answer;
    await this.store.recordWorkspaceChange(this.record.id, change);
    // The line comes first in the summary, so capping a long answer never cuts it off.
    return `${changeLine(this.record.id, name, change)}\n\n${answer}`;
  }

  /**
   * A budget ran out before a model call: the task ends now, and its result says so and carries what it
   * had done, rather than stopping silently.
   */
  private async exhaustBudget(error: BatonError): Promise<ChildRunResult> {
    const partial = partialWork(this.state);
    await this.end('failed', {
      error: `${error.message}. Stopped after ${this.state.steps} step(s); partial work:\n${partial}`,
      summary: partial,
    });
    this.log.warn({ steps: this.state.steps }, 'child stopped: budget exhausted');
    return { kind: 'ended', status: 'failed' };
  }

  /** The run stopped on an error or an abort: ends the task, leaves it to another worker, or rethrows. */
  private async settleFailure(error: unknown): Promise<ChildRunResult> {
    if (error instanceof RunParked) {
      this.log.info({ status: error.status, round: error.round }, 'child parked, waiting for a person');
      return { kind: 'parked', status: error.status, round: error.round };
    }
    const { signal } = this.options;
    const stopped =
      error instanceof RunStopped ? error : signal.reason instanceof RunStopped ? signal.reason : null;
    if (stopped?.reason === 'shutdown') return { kind: 'interrupted' };
    if (stopped?.reason === 'lost') return { kind: 'lost' };
    if (stopped?.reason === 'cancel') {
      await this.end('cancelled', { note: 'stopped' });
      return { kind: 'ended', status: 'cancelled' };
    }
    if (stopped?.reason === 'timeout') {
      const limit = this.dependencies.config.delegation.child_timeout_s;
      await this.end('timed_out', { error: `ran longer than delegation.child_timeout_s (${limit} s)` });
      return { kind: 'ended', status: 'timed_out' };
    }
    // A checkpoint this worker cannot read would fail every retry the same way: end the task, saying why.
    if (isBatonError(error) && (error.fault !== 'system' || error.code === 'checkpoint_invalid')) {
      const message = redactSecrets(describeError(error));
      this.log.warn({ code: error.code, message }, 'child failed');
      await this.end('failed', { error: message });
      return { kind: 'ended', status: 'failed' };
    }
    // Unexpected (a bug, Redis trouble): let BullMQ retry the job; it resumes from the checkpoint.
    this.log.error({ err: error }, 'child run crashed; the job will be retried from its checkpoint');
    throw error instanceof Error ? error : new BatonError('tool_failed', describeError(error));
  }

  /** Ends the task and lets go of it in one script. */
  private async end(
    status: 'cancelled' | 'timed_out' | 'failed',
    details: { error?: string; note?: string; summary?: string },
  ): Promise<void> {
    const written = await this.store.transition(this.record, status, {
      ...details,
      runnerToken: this.options.runnerToken,
      release: true,
    });
    if (written.released) this.holding = false;
  }

  // Progress events are not awaited (the step goes on), but a failed write must not become an unhandled rejection.
  private recordEvent(type: TaskEventType, text: string): void {
    this.store.appendEvent(this.record.id, type, text).catch((error: unknown) => {
      this.log.debug({ err: error, type }, 'task event not recorded');
    });
  }
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

/** What the tools get of a workspace: its directory and, for a checkout, the git directory Baton's git uses. */
function workspaceAccess(workspace: OpenWorkspace): WorkspaceAccess {
  return {
    directory: workspace.directory,
    ...(workspace.gitDirectory ? { gitDirectory: workspace.gitDirectory } : {}),
  };
}
