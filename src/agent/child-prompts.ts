import type { BatonConfig } from '../config/schema.ts';
import type { ToolCall } from '../llm/model-client.ts';
import type { Logger } from '../logging/logger.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import { RunStopped } from '../tasks/run-stopped.ts';
import type { PromptResponse, TaskPromptState, TaskRecord } from '../tasks/task-record.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import { cutText } from '../text/cut-text.ts';
import { type AskUserInput, askUserToolName } from '../tools/people/ask-user-tool.ts';
import type { Tool } from '../tools/tool.ts';
import type { ToolCallGate } from './agent-loop.ts';
import { ApprovalRules } from './approval-rules.ts';

/** Longest text of a prompt's event (a question, an action's arguments), in characters. */
const eventTextChars = 200;
/** Longest arguments an approval request shows, in characters. */
const actionArgumentsChars = 3000;

/** Thrown out of the agent loop once the task is parked: the run ends, holding nothing, and its job ends. */
export class RunParked extends Error {
  constructor(
    readonly status: 'waiting_input' | 'waiting_approval',
    readonly round: number,
  ) {
    super(`run parked: ${status} (round ${round})`);
    this.name = 'RunParked';
  }
}

export interface ChildPromptsOptions {
  config: BatonConfig;
  store: TaskStore;
  record: TaskRecord;
  runnerToken: string;
  tools: readonly Tool[];
  /** Adds the job that resumes the task after its wait (delayed by the time-out); absent: no parking here. */
  scheduleResume?(taskId: string, round: number, delayMs: number): Promise<void>;
  /** Saves the run as it is (the batch under way, this gate's call not started, `decisions` with it). */
  checkpoint(): Promise<void>;
  /** The park script let go of the task: the run no longer holds it. */
  released(): void;
  /** The configured workspace the task works in, for approval requests. */
  workspace?: string;
  logger: Logger;
}

/**
 * The gate of a child's tool calls that need a person: `ask_user`, and calls needing approval. The first
 * time such a call comes up, the run saves itself and parks the task (waiting_input / waiting_approval) on
 * a prompt, and ends; when the task resumes, the person's response is found here and the call is settled
 * (the answer as its result, a denial as an error) or run (approved). Responses to the calls of the batch
 * under way are kept in the checkpoint (`decisions`), as a batch may wait on several calls, one at a time.
 */
export class ChildPrompts {
  /** Responses to calls of the batch under way, by tool call id; saved with every checkpoint. */
  decisions: Record<string, PromptResponse> = {};
  private readonly rules: ApprovalRules;
  private readonly toolsByName: ReadonlyMap<string, Tool>;
  private lastRound: number;

  constructor(private readonly options: ChildPromptsOptions) {
    this.rules = new ApprovalRules(options.config);
    this.toolsByName = new Map(options.tools.map((tool) => [tool.name, tool]));
    this.lastRound = options.record.prompt?.round ?? 0;
  }

  /** Takes the responses saved in the checkpoint, plus the one the task was resumed with. */
  restore(saved: Record<string, PromptResponse> | undefined): void {
    this.decisions = { ...saved };
    const { prompt, promptResponse } = this.options.record;
    if (prompt && promptResponse && promptResponse.round === prompt.round) {
      this.decisions[prompt.callId] = promptResponse;
    }
  }

  /** The batch ended: its responses are no longer needed. */
  clear(): void {
    this.decisions = {};
  }

  async gate(call: ToolCall, started: boolean): Promise<ToolCallGate> {
    const tool = this.toolsByName.get(call.function.name);
    if (!tool) return { kind: 'run' };
    const input = parsedArguments(tool, call);
    // Arguments that do not parse are reported by executeToolCall, as for any tool.
    if (input === undefined) return { kind: 'run' };
    if (tool.name === askUserToolName) return this.question(call, input as AskUserInput);
    if (!this.rules.needsApproval(tool, input)) return { kind: 'run' };
    const decision = this.decisions[call.id];
    if (decision?.approved === true) return { kind: 'run', approvedBy: decision.by ?? 'a person' };
    if (decision) return settled(call, { error: denialText(tool.name, decision, this.options.config) });
    // Started before it needed approval (the config changed meanwhile): the tool itself decides.
    if (started) return { kind: 'run' };
    const argumentsText = cutText(redactSecrets(call.function.arguments), actionArgumentsChars);
    return this.park(call, 'waiting_approval', this.options.config.approvals.timeout_s, {
      kind: 'approval',
      text: `wants to run ${tool.name}`,
      choices: [],
      action: {
        tool: tool.name,
        arguments: argumentsText,
        ...(this.options.workspace ? { workspace: this.options.workspace } : {}),
      },
      eventText: `approval for ${tool.name} ${cutText(argumentsText, eventTextChars, { marker: '' })}`,
    });
  }

  private async question(call: ToolCall, input: AskUserInput): Promise<ToolCallGate> {
    const decision = this.decisions[call.id];
    if (decision?.timedOut) {
      const waited = Math.round((decision.at - (this.options.record.prompt?.askedAt ?? decision.at)) / 1000);
      return settled(call, {
        error:
          `nobody answered within ${waited} s. Decide yourself if you can and say so in your answer, or say ` +
          'what you needed to know.',
      });
    }
    if (decision) {
      return settled(call, { answer: decision.answer ?? '', answered_by: decision.by ?? 'a person' });
    }
    const seconds = input.timeout_s ?? this.options.config.delegation.ask_user_timeout_s;
    return this.park(call, 'waiting_input', seconds, {
      kind: 'question',
      text: input.question,
      choices: input.choices ?? [],
      eventText: `asked: ${cutText(redactSecrets(input.question), eventTextChars, { marker: '' })}`,
    });
  }

  /**
   * Saves the run, parks the task on a new prompt and schedules its resume; throws RunParked. When the
   * session's parked cap is reached, the call gets an error instead and the run goes on.
   */
  private async park(
    call: ToolCall,
    status: 'waiting_input' | 'waiting_approval',
    timeoutSeconds: number,
    prompt: Pick<TaskPromptState, 'kind' | 'text' | 'choices' | 'action'> & { eventText: string },
  ): Promise<ToolCallGate> {
    const { store, record, scheduleResume, config } = this.options;
    if (!scheduleResume) {
      return settled(call, { error: 'waiting for a person is not available here; decide without it' });
    }
    const round = this.lastRound + 1;
    const now = Date.now();
    const { eventText, ...fields } = prompt;
    const state: TaskPromptState = {
      round,
      callId: call.id,
      ...fields,
      askedAt: now,
      expiresAt: now + timeoutSeconds * 1000,
    };
    await this.options.checkpoint();
    const maxParked = config.delegation.max_parked_per_session;
    const { outcome, detail } = await store.park(
      record,
      this.options.runnerToken,
      status,
      state,
      maxParked,
      eventText,
    );
    if (outcome === 'over_parked') {
      const notDone =
        prompt.kind === 'question' ? 'the question was not asked' : `${prompt.action?.tool} was not run`;
      return settled(call, {
        error:
          `this conversation already has ${detail} task(s) waiting for a person, the most allowed ` +
          `(delegation.max_parked_per_session: ${maxParked}); ${notDone}. Go on without it, or end and say ` +
          'what you need.',
      });
    }
    if (outcome === 'lost' || outcome === 'missing') throw new RunStopped('lost');
    if (outcome === 'refused') throw new RunStopped('cancel');
    this.lastRound = round;
    this.options.released();
    // The wait is recorded: a resume job lost here is added again by the queue reconciler.
    await scheduleResume(record.id, round, timeoutSeconds * 1000).catch((error: unknown) =>
      this.options.logger.warn({ err: error, round }, 'resume job not added; the reconciler will add it'),
    );
    throw new RunParked(status, round);
  }
}

function parsedArguments(tool: Tool, call: ToolCall): unknown {
  let raw: unknown;
  try {
    raw = call.function.arguments.trim() === '' ? {} : JSON.parse(call.function.arguments);
  } catch {
    return undefined;
  }
  const parsed = tool.inputSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

function settled(call: ToolCall, result: Record<string, unknown>): ToolCallGate {
  return { kind: 'settled', outcome: { call, ok: !('error' in result), content: JSON.stringify(result) } };
}

/** Why an approval-needing call did not run, as the model reads it. */
function denialText(tool: string, decision: PromptResponse, config: BatonConfig): string {
  if (decision.timedOut) {
    return (
      `${tool} was not run: nobody approved it within ${config.approvals.timeout_s} s ` +
      '(approvals.timeout_s), which counts as a denial.'
    );
  }
  const reason = decision.reason ? ` Reason: ${decision.reason}` : ' No reason was given.';
  return `${tool} was not run: ${decision.by ?? 'a person'} denied it.${reason}`;
}
