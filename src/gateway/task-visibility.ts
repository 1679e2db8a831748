import type { TaskRecord } from '../tasks/task-record.ts';
import type { ConversationRef } from './chat-adapter.ts';

/**
 * Whether the person asking is a member of a private thread (by thread id) of the channel they ask in.
 * Only the platform knows, so the adapter answers (ChatAdapter.isThreadMember).
 */
export type PrivateThreadMembership = (thread: string) => Promise<boolean>;

/** Without the platform's answer, a private thread is seen only from inside it. */
export const noPrivateThreadMembership: PrivateThreadMembership = async () => false;

/** Whether `ref` is a channel itself rather than a thread in it (platforms without threads use the channel). */
export function isChannelLevel(ref: ConversationRef): boolean {
  return ref.thread === ref.channel;
}

/**
 * Whether a task shows to someone asking in `ref`: a task of the same channel, unless it was started in a
 * private thread the asker is neither writing in nor a member of.
 */
export async function isTaskVisibleFrom(
  task: TaskRecord,
  ref: ConversationRef,
  isMember: PrivateThreadMembership,
): Promise<boolean> {
  if (task.origin.platform !== ref.platform || task.origin.channel !== ref.channel) return false;
  if (task.origin.thread === ref.thread || !task.origin.privateThread) return true;
  return isMember(task.origin.thread);
}

/**
 * The tasks a listing shows to someone asking in `ref`: inside a thread, that thread's; at the channel,
 * the channel's tasks visible from there. Membership is asked once per private thread.
 */
export async function tasksListedFrom(
  tasks: TaskRecord[],
  ref: ConversationRef,
  isMember: PrivateThreadMembership,
): Promise<TaskRecord[]> {
  if (!isChannelLevel(ref)) {
    return tasks.filter(
      (task) =>
        task.origin.platform === ref.platform &&
        task.origin.channel === ref.channel &&
        task.origin.thread === ref.thread,
    );
  }
  const asked = new Map<string, Promise<boolean>>();
  const remembered: PrivateThreadMembership = (thread) => {
    let answer = asked.get(thread);
    if (!answer) {
      answer = isMember(thread).catch(() => false);
      asked.set(thread, answer);
    }
    return answer;
  };
  const visible = await Promise.all(tasks.map((task) => isTaskVisibleFrom(task, ref, remembered)));
  return tasks.filter((_, index) => visible[index]);
}
