import { z } from 'zod';
import { BatonError } from '../../errors.ts';
import { isInterruption } from '../../tasks/run-stopped.ts';
import type { TaskService } from '../../tasks/task-service.ts';
import { defineTool, type Tool } from '../tool.ts';
import {
  callerFromContext,
  idempotencyOf,
  resultView,
  waitingWithoutTurnSlot,
} from './delegation-tool-parts.ts';

function taskFields(service: TaskService) {
  const { toolsets, routes, workspaces } = service.limits;
  return {
    goal: z
      .string()
      .trim()
      .min(1)
      .max(8000)
      .describe('What the child agent must achieve, stated on its own.'),
    context: z
      .string()
      .max(40_000)
      .optional()
      .describe('Everything the child needs to know; it sees nothing of this conversation.'),
    toolsets: z
      .array(z.string())
      .optional()
      .describe(
        `Toolsets the child may use (available: ${toolsets.join(', ') || 'none'}). Default: configured.`,
      ),
    route: z
      .string()
      .optional()
      .describe(`Model route (available: ${routes.join(', ')}). Default: configured.`),
    role: z
      .enum(['leaf', 'orchestrator'])
      .optional()
      .describe('"orchestrator" children may delegate further when depth allows; default "leaf".'),
    // A loose object rather than a record: its JSON Schema (an object with properties) is one every
    // provider's function-parameter checker accepts.
    output_schema: z
      .looseObject({})
      .optional()
      .describe(
        'A JSON Schema the final answer must match; the result then carries `output` (the parsed JSON) ' +
          'and `schema_valid`. The child gets one correction turn if its answer does not match.',
      ),
    workspace: z
      .string()
      .optional()
      .describe(
        `A repository to work in with the terminal and file toolsets (available: ${workspaces.join(', ') || 'none'}): ` +
          "the child gets its own checkout, and a completed child's change can be merged with merge_task.",
      ),
  };
}

export function createDelegateTaskTool(service: TaskService, waitLimitMs: number): Tool {
  const { maxBatchSize, maxActiveTasksPerConversation } = service.limits;
  const inputSchema = z.object({
    tasks: z
      .array(z.object(taskFields(service)))
      .min(1)
      .max(maxBatchSize)
      .describe('The tasks to run in parallel.'),
  });
  return defineTool({
    name: 'delegate_task',
    // Dispatch is keyed by the tool call id: a replay finds the same children and waits for them.
    retrySafe: true,
    description:
      `Run 1 to ${maxBatchSize} tasks in parallel as background child agents and wait until all have ended; ` +
      `returns each one's status and summary. At most ${maxActiveTasksPerConversation} tasks may be queued or running ` +
      'in this conversation at once. Prefer delegate_task_async for long work, so the conversation stays free. ' +
      'A child waiting for a person (status waiting_input or waiting_approval) may outlast the wait; its ' +
      'result is posted here when it ends.',
    inputSchema,
    async execute(input, context) {
      const caller = callerFromContext(context);
      const records = await service.dispatch(caller, input.tasks, idempotencyOf(context));
      const ids = records.map((record) => record.id);
      const waited = await waitingWithoutTurnSlot(context, () =>
        service.waitForEnd(ids, waitLimitMs, context.signal),
      );
      if (context.signal.aborted) {
        // A cancelled caller takes its synchronous children with it. An interrupted one (shutdown) resumes
        // elsewhere, replays this call and finds the same children still running.
        if (!isInterruption(context.signal.reason)) {
          await service.cancelTree(ids, 'the task that started it was cancelled');
        }
        throw context.signal.reason ?? new BatonError('aborted', 'cancelled');
      }
      return { results: waited.records.map(resultView) };
    },
  });
}

export function createDelegateTaskAsyncTool(service: TaskService): Tool {
  const { maxActiveTasksPerConversation } = service.limits;
  return defineTool({
    name: 'delegate_task_async',
    // Dispatch is keyed by the tool call id: a replay returns the same task.
    retrySafe: true,
    description:
      'Start one background child agent and return at once with its task id. Its result is posted to this ' +
      'conversation when it ends; use check_task, steer_task, collect_task or cancel_task with the id. ' +
      `At most ${maxActiveTasksPerConversation} tasks may be queued or running in this conversation at once.`,
    inputSchema: z.object(taskFields(service)),
    async execute(input, context) {
      const [record] = await service.dispatch(callerFromContext(context), [input], idempotencyOf(context));
      return { task_id: record!.id, status: record!.status };
    },
  });
}
