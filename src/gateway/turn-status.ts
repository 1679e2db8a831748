import type { ToolCall } from '../llm/model-client.ts';

const checking = new Set(['check_task', 'list_tasks', 'collect_task']);
const starting = new Set(['delegate_task', 'delegate_task_async']);

/** The status line while a parent's tool batch runs ("is checking 2 tasks…"), in words people read. */
export function turnStatusFor(calls: readonly ToolCall[]): string {
  const count = (names: Set<string>) => calls.filter((call) => names.has(call.function.name)).length;
  const plural = (n: number) => (n === 1 ? '1 task' : `${n} tasks`);
  const checked = count(checking);
  const started = count(starting);
  if (started > 0 && checked === 0) return `is starting ${plural(started)}…`;
  if (checked > 0 && started === 0) return `is checking ${plural(checked)}…`;
  return 'is working…';
}
