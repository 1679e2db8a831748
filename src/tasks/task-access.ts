import type { TaskOrigin, TaskRecord } from './task-record.ts';

/**
 * The person a task operation acts for, with what access decisions look at. The same shape as the
 * gateway's ChatUser, declared here so the task layer never imports the gateway.
 */
export interface TaskActor {
  id: string;
  name: string;
  /** Platform role ids (Discord roles); empty where the platform has none. */
  roleIds: string[];
  /** Discord guild / Slack team, when there is one. */
  workspaceId?: string;
  /** Trusted by construction (the local console). */
  trusted?: boolean;
}

/** Where the person is writing: a conversation (platform, channel, thread). */
export interface TaskPlace {
  platform: string;
  channel: string;
  thread: string;
}

/** What a person may ask of a task: look at its details, or control it. */
export type TaskAction = 'check' | 'steer' | 'cancel' | 'collect' | 'merge';

/** Who may approve or deny a parked task's tool call (approvals.approvers). */
export type Approvers = 'owner' | 'admins' | 'channel';

/**
 * The access decision for people acting on tasks, in one place: the gateway's AccessPolicy implements it
 * and both the chat commands and the delegation tools ask it, so a request through the parent agent gets
 * the same answer as the command typed by the same person.
 */
export interface TaskAuthorizer {
  /** Null when `actor`, writing in `place`, may do `action` to `task`; otherwise why not, to relay as is. */
  refusal(actor: TaskActor, place: TaskPlace, task: TaskRecord, action: TaskAction): string | null;
  /**
   * Null when `actor`, writing in `place`, may approve or deny `task`'s waiting tool call under
   * `approvers`; otherwise why not. Never a model's or a child's decision: only people's commands ask it.
   */
  approvalRefusal(actor: TaskActor, place: TaskPlace, task: TaskRecord, approvers: Approvers): string | null;
}

/**
 * What a process without the gateway's policy falls back to: only the task's owner on the same
 * platform (or a trusted actor). Never wider than any configured policy.
 */
export const ownerOnlyAuthorizer: TaskAuthorizer = {
  refusal(actor, place, task, action) {
    if (actor.trusted) return null;
    if (task.origin.platform === place.platform && task.origin.user === actor.id) return null;
    return `only the task's owner can ${actionVerb(action)} ${task.id}`;
  },
  approvalRefusal(actor, place, task, approvers) {
    if (actor.trusted) return null;
    const owner = task.origin.platform === place.platform && task.origin.user === actor.id;
    if (approvers !== 'admins' && owner) return null;
    return `only ${approvers === 'admins' ? 'an admin' : "the task's owner"} can approve or deny ${task.id}`;
  },
};

/** `check` → "see the details of", for refusals. */
export function actionVerb(action: TaskAction): string {
  return action === 'check' ? 'see the details of' : action;
}

/**
 * The task's owner as the actor of a turn the task's ending started (announce `parent`): roles and
 * workspace as they were when the task was started. Records written before these were kept have none.
 */
export function ownerOf(origin: TaskOrigin): TaskActor {
  return {
    id: origin.user,
    name: origin.userName ?? origin.user,
    roleIds: origin.userRoleIds ?? [],
    ...(origin.workspaceId === undefined ? {} : { workspaceId: origin.workspaceId }),
    ...(origin.userTrusted ? { trusted: true } : {}),
  };
}

/** The origin of tasks a person starts from `place`: who they are, so a later turn can act as them. */
export function originFor(place: TaskPlace & { privateThread?: boolean }, actor: TaskActor): TaskOrigin {
  return {
    platform: place.platform,
    channel: place.channel,
    thread: place.thread,
    user: actor.id,
    userName: actor.name,
    userRoleIds: actor.roleIds,
    ...(actor.workspaceId === undefined ? {} : { workspaceId: actor.workspaceId }),
    ...(actor.trusted ? { userTrusted: true } : {}),
    ...(place.privateThread ? { privateThread: true } : {}),
  };
}
