import { activeStatuses, type TaskRecord } from '../tasks/task-record.ts';
import { statusWord } from '../tasks/task-views.ts';
import { oneLine } from '../text/cut-text.ts';
import type { ConversationRef, TaskSuggestion, TaskSuggestionRequest } from './chat-adapter.ts';
import { type PrivateThreadMembership, tasksListedFrom } from './task-visibility.ts';

/** Statuses a command's id suggestions are limited to; a command not listed suggests every task. */
const suggestedStatuses: Record<string, ReadonlySet<string>> = {
  // A completed task is steered with a follow-up: it runs again.
  steer: new Set([...activeStatuses, 'completed']),
  cancel: new Set([...activeStatuses, 'waiting_input', 'waiting_approval']),
  answer: new Set(['waiting_input']),
  approve: new Set(['waiting_approval']),
  deny: new Set(['waiting_approval']),
};

/**
 * Task ids to offer someone typing one in `ref`, newest first, scoped like `tasks`: inside a thread its
 * tasks, in the channel the tasks of threads the person may see; only those `command` can act on.
 */
export async function suggestTasks(
  channelTasks: TaskRecord[],
  ref: ConversationRef,
  isMember: PrivateThreadMembership,
  request: TaskSuggestionRequest,
): Promise<TaskSuggestion[]> {
  const statuses = request.command ? suggestedStatuses[request.command] : undefined;
  const typed = request.typed.trim().toLowerCase();
  const tasks = await tasksListedFrom(channelTasks, ref, isMember);
  return tasks
    .filter((task) => !statuses || statuses.has(task.status))
    .filter((task) => !typed || task.id.includes(typed) || task.goal.toLowerCase().includes(typed))
    .slice(0, request.limit)
    .map((task) => ({
      taskId: task.id,
      label: `${task.id} · ${statusWord(task.status)} · ${oneLine(task.goal)}`,
    }));
}
