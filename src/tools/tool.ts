import { z } from 'zod';
import type { ToolDefinition } from '../llm/model-client.ts';
import type { TaskActor } from '../tasks/task-access.ts';
import type { TaskOrigin } from '../tasks/task-record.ts';

/** Who is calling a tool and on whose behalf: the parent agent of a session, or a child task. */
export interface ToolContext {
  /** Session key `platform:channel:thread`. */
  sessionKey: string;
  origin: TaskOrigin;
  /** The child task making the call; null for the session's parent agent. */
  callerTaskId: string | null;
  /** 0 for the parent agent, 1 for its children, and so on. */
  depth: number;
  /** Aborted when the calling agent is cancelled, times out or is interrupted. */
  signal: AbortSignal;
  /**
   * The person the parent agent's turn acts for (who wrote the message, or the owner of the task whose
   * ending started the turn); access to tasks is decided for them. Unset for children, which act as their task.
   */
  actor?: TaskActor;
  /** Id of the model's tool call being executed; stable across a resume, so it keys idempotent effects. */
  toolCallId?: string;
  /**
   * Parent turns only: runs a long wait for other work (children) without holding one of the gateway's
   * turn slots (gateway.max_concurrent_turns), so waiting threads do not starve the others.
   */
  releaseTurnSlotWhile?<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Set only for a call a person approved (approvals.required_for, an MCP server's `approval` list): their
   * display name. Tools that need approval refuse to run without it.
   */
  approvedBy?: string;
  /** Children only: where the terminal and file tools work (the task's workspace checkout, or a scratch directory). */
  workspace?: WorkspaceAccess;
}

/** A task's working directory, as the terminal and file tools see it. */
export interface WorkspaceAccess {
  /** Absolute path of the directory; the tools never read or write outside it. */
  directory: string;
  /**
   * The git directory Baton's own git runs use for this checkout (in the store, out of the task's reach);
   * absent for a scratch directory. Never the checkout's `.git`, which a command may rewrite.
   */
  gitDirectory?: string;
}

/** A tool: zod validates the model's arguments before `execute` runs; the result is sent back as JSON. */
export interface Tool<Input = unknown> {
  name: string;
  description: string;
  inputSchema: z.ZodType<Input>;
  /**
   * The JSON Schema of the arguments the model sees, for a tool that brings its own (an MCP server's);
   * `inputSchema` then checks only what Baton relies on. Left out: derived from `inputSchema`.
   */
  parameters?: Record<string, unknown>;
  /**
   * Whether running a call again is harmless when the first run was interrupted (its worker died or
   * stalled mid-call): true for reads and for effects keyed by the tool call id. Left out means false:
   * an interrupted call is reported to the model as interrupted and never run again.
   */
  retrySafe?: boolean;
  /**
   * How long one call may run, in ms, when the tool sets its own limit (a terminal command's timeout_s);
   * otherwise `delegation.tool_timeout_s` applies.
   */
  timeoutMs?(input: Input): number;
  /**
   * Whether every call needs a person's approval before it runs (an MCP tool listed under its server's
   * `approval`); approvals.required_for names more. Left out: only when the config says so.
   */
  needsApproval?: boolean;
  execute(input: Input, context: ToolContext): Promise<unknown>;
}

/** Erases a tool's input type so tools of different inputs fit in one list. */
export function defineTool<Input>(tool: Tool<Input>): Tool<unknown> {
  return tool as Tool<unknown>;
}

const definitions = new WeakMap<Tool, ToolDefinition>();

/**
 * The JSON schema the model sees, derived from the zod schema so the two never disagree. Derived once per
 * tool: every agent run asks again, and tools are shared (see ToolsetRegistry).
 */
export function toToolDefinition(tool: Tool): ToolDefinition {
  let definition = definitions.get(tool);
  if (!definition) {
    definition = {
      name: tool.name,
      description: tool.description,
      parameters: tool.parameters ?? derivedParameters(tool.inputSchema),
    };
    definitions.set(tool, definition);
  }
  return definition;
}

function derivedParameters(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...parameters } = z.toJSONSchema(schema, { io: 'input' }) as Record<
    string,
    unknown
  >;
  return parameters;
}
