import type { BatonConfig } from '../config/schema.ts';
import {
  type Approvers,
  actionVerb,
  type TaskAction,
  type TaskActor,
  type TaskAuthorizer,
  type TaskPlace,
} from '../tasks/task-access.ts';
import type { TaskRecord } from '../tasks/task-record.ts';
import type { ChatUser, ConversationRef } from './chat-adapter.ts';

export type AccessConfig = BatonConfig['access'];

/**
 * Who may use Baton and who may steer, cancel or collect a task (config group `access`). Default deny:
 * nobody on a chat platform is allowed until the config lists them; the local console is trusted.
 */
export class AccessPolicy implements TaskAuthorizer {
  /** Who may control a task besides admins: its owner, anyone allowed in its channel, or nobody. */
  readonly taskControl: AccessConfig['task_control'];
  private readonly allowedUsers: ReadonlySet<string>;
  private readonly allowedRoles: ReadonlySet<string>;
  private readonly allowedChannels: ReadonlySet<string>;
  private readonly allowedWorkspaces: ReadonlySet<string>;
  private readonly adminUsers: ReadonlySet<string>;
  private readonly adminRoles: ReadonlySet<string>;

  constructor(config: AccessConfig) {
    this.taskControl = config.task_control;
    this.allowedUsers = new Set(config.allowed_users);
    this.allowedRoles = new Set(config.allowed_roles);
    this.allowedChannels = new Set(config.allowed_channels);
    this.allowedWorkspaces = new Set(config.allowed_guilds);
    this.adminUsers = new Set(config.admin_users);
    this.adminRoles = new Set(config.admin_roles);
  }

  isAdmin(user: ChatUser): boolean {
    return this.adminUsers.has(user.id) || user.roleIds.some((role) => this.adminRoles.has(role));
  }

  /** Whether the user may talk to Baton in this conversation. */
  isAllowed(user: ChatUser, ref: ConversationRef): boolean {
    if (user.trusted || this.isAdmin(user)) return true;
    // A guild (Slack team) restriction holds even for users listed by id: ids are per platform, not per guild.
    if (this.allowedWorkspaces.size > 0) {
      if (user.workspaceId === undefined || !this.allowedWorkspaces.has(user.workspaceId)) return false;
    }
    return (
      this.allowedUsers.has(user.id) ||
      user.roleIds.some((role) => this.allowedRoles.has(role)) ||
      this.allowedChannels.has(ref.channel)
    );
  }

  /**
   * Null when the person, writing in `place`, may do `action` to `task`; otherwise the refusal. The one
   * decision behind the chat commands and the delegation tools the parent agent calls for that person.
   */
  refusal(actor: TaskActor, place: TaskPlace, task: TaskRecord, action: TaskAction): string | null {
    if (this.canControlTask(actor, place, task)) return null;
    const who = this.taskControl === 'admins' ? 'an admin' : "the task's owner or an admin";
    return `only ${who} can ${actionVerb(action)} ${task.id}`;
  }

  /**
   * Null when the person, writing in `place`, may approve or deny `task`'s waiting tool call: admins (and
   * the trusted local console) always; with approvers `owner` the task's owner; with `channel` anyone
   * allowed in the task's channel.
   */
  approvalRefusal(actor: TaskActor, place: TaskPlace, task: TaskRecord, approvers: Approvers): string | null {
    if (actor.trusted || this.isAdmin(actor)) return null;
    const samePlatform = task.origin.platform === place.platform;
    if (approvers === 'owner' && samePlatform && task.origin.user === actor.id) return null;
    if (
      approvers === 'channel' &&
      samePlatform &&
      task.origin.channel === place.channel &&
      this.isAllowed(actor, { ...place })
    )
      return null;
    const who = {
      owner: "the task's owner or an admin",
      admins: 'an admin',
      channel: 'people of its channel',
    };
    return `only ${who[approvers]} can approve or deny ${task.id} (approvals.approvers: ${approvers})`;
  }

  /** Whether the user, writing in `ref`, may see the details of, steer, cancel or collect `task`. */
  canControlTask(user: ChatUser, ref: ConversationRef, task: TaskRecord): boolean {
    if (user.trusted || this.isAdmin(user)) return true;
    const samePlatform = task.origin.platform === ref.platform;
    switch (this.taskControl) {
      case 'owner':
        return samePlatform && task.origin.user === user.id;
      case 'channel':
        return samePlatform && task.origin.channel === ref.channel && this.isAllowed(user, ref);
      case 'admins':
        return false;
    }
  }
}
