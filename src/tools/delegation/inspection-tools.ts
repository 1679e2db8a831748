import { z } from 'zod';
import { isParked, roundOf, type TaskRecord, taskStatuses } from '../../tasks/task-record.ts';
import type { TaskService } from '../../tasks/task-service.ts';
import { elapsedSeconds, eventLine, shortGoal } from '../../tasks/task-views.ts';
import { defineTool, type Tool } from '../tool.ts';
import {
  callerFromContext,
  structuredView,
  taskIdField,
  waitingWithoutTurnSlot,
} from './delegation-tool-parts.ts';

const recentEventCount = 8;

export function createCheckTaskTool(service: TaskService): Tool {
  return defineTool({
    name: 'check_task',
    retrySafe: true,
    description:
      "Look at a task's progress without waiting: status, goal, elapsed time, steps and recent events. A task " +
      'waiting_input or waiting_approval waits for a person (waiting_for says on what); people answer it in the thread.',
    inputSchema: z.object({ task_id: taskIdField }),
    async execute(input, context) {
      const record = await service.lookup(callerFromContext(context), input.task_id, 'check');
      const events = await service.store.recentEvents(record.id, recentEventCount);
      return {
        task_id: record.id,
        status: record.status,
        goal: record.goal,
        elapsed_s: elapsedSeconds(record),
        steps: record.steps,
        ...structuredView(record),
        ...waitingView(record),
        ...roundView(record),
        ...(record.merge
          ? {
              merged: {
                by: record.merge.by,
                at: new Date(record.merge.at).toISOString(),
                into: record.merge.into,
                commit: record.merge.commit,
              },
            }
          : {}),
        recent: events.map(eventLine),
      };
    },
  });
}

export function createCollectTaskTool(
  service: TaskService,
  defaultSeconds: number,
  maxSeconds: number,
): Tool {
  return defineTool({
    name: 'collect_task',
    retrySafe: true,
    description:
      `Wait for a task to end and return its summary. Waits up to timeout_s seconds (default ${defaultSeconds}, ` +
      `max ${maxSeconds}), also while the task waits for a person; on time-out returns timed_out: true and the ` +
      'task keeps going.',
    inputSchema: z.object({
      task_id: taskIdField,
      timeout_s: z
        .number()
        .positive()
        .max(maxSeconds)
        .optional()
        .describe(`Seconds to wait, at most ${maxSeconds}.`),
    }),
    async execute(input, context) {
      const collect = () =>
        service.collect(callerFromContext(context), input.task_id, input.timeout_s, context.signal);
      const { record, timedOut } = await waitingWithoutTurnSlot(context, collect);
      context.signal.throwIfAborted();
      return {
        task_id: record.id,
        status: record.status,
        summary: record.summary ?? '',
        ...(record.error ? { error: record.error } : {}),
        ...structuredView(record),
        ...roundView(record),
        timed_out: timedOut,
      };
    },
  });
}

export function createListTasksTool(service: TaskService): Tool {
  return defineTool({
    name: 'list_tasks',
    retrySafe: true,
    description:
      "List this conversation's tasks, newest first, optionally only those with one status. Tasks marked " +
      'restricted show only status and timing: the person you act for may not see their details.',
    inputSchema: z.object({
      status: z.enum(taskStatuses).optional().describe('Only tasks with this status.'),
    }),
    async execute(input, context) {
      const listed = await service.list(callerFromContext(context), input.status);
      return {
        tasks: listed.map(({ record, restricted }) => ({
          task_id: record.id,
          ...(restricted ? { restricted: true } : { goal: shortGoal(record.goal) }),
          status: record.status,
          elapsed_s: elapsedSeconds(record),
          steps: record.steps,
        })),
      };
    },
  });
}

/** What a parked task waits for (check_task): the question and its choices, or the action to approve. */
function waitingView(record: TaskRecord): Record<string, unknown> {
  const prompt = record.prompt;
  if (!prompt || !isParked(record.status)) return {};
  const expiresInSeconds = Math.max(0, Math.round((prompt.expiresAt - Date.now()) / 1000));
  return {
    waiting_for:
      prompt.kind === 'question'
        ? { question: prompt.text, choices: prompt.choices, expires_in_s: expiresInSeconds }
        : { approval_of: prompt.action, expires_in_s: expiresInSeconds },
  };
}

/** A task reopened by a follow-up says which round it is on; its summary is the latest completed round's. */
function roundView(record: TaskRecord): { round?: number } {
  return roundOf(record) > 1 ? { round: roundOf(record) } : {};
}
