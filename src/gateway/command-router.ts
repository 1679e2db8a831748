import { BatonError, isBatonError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { taskIdPattern } from '../tasks/task-ids.ts';
import { activeStatuses, isTerminal, type TaskRecord } from '../tasks/task-record.ts';
import type { TaskCaller, TaskService } from '../tasks/task-service.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import {
  activityText,
  elapsedSeconds,
  formatDuration,
  shortGoal,
  statusWord,
  stepCount,
  taskLine,
} from '../tasks/task-views.ts';
import { cutText } from '../text/cut-text.ts';
import { mergeCompletedTask, mergeLine, mergeOutcomeText } from '../tools/workspace/merge-task.ts';
import type { WorkspaceStore } from '../tools/workspace/workspace-store.ts';
import type { AccessPolicy } from './access-policy.ts';
import {
  type ChatCommand,
  type ChatUser,
  type CommandReply,
  type ConversationRef,
  sessionKeyOf,
} from './chat-adapter.ts';
import {
  isChannelLevel,
  isTaskVisibleFrom,
  noPrivateThreadMembership,
  type PrivateThreadMembership,
  tasksListedFrom,
} from './task-visibility.ts';

/** A chat command, parsed: what every adapter's slash command, mention words or button comes down to. */
export type ParsedCommand =
  | { name: 'tasks' }
  | { name: 'help' }
  | { name: 'usage' }
  | { name: 'status' | 'cancel' | 'collect' | 'merge'; taskId: string }
  | { name: 'steer'; taskId: string; message: string }
  | { name: 'answer'; taskId: string; text: string }
  | { name: 'approve'; taskId: string }
  | { name: 'deny'; taskId: string; reason?: string };

const usages = {
  tasks: 'tasks',
  status: 'status <task id>',
  steer: 'steer <task id> <message>',
  cancel: 'cancel <task id>',
  collect: 'collect <task id>',
  merge: 'merge <task id>',
  answer: 'answer <task id> <text> (or #<choice number>)',
  approve: 'approve <task id>',
  deny: 'deny <task id> [reason]',
  usage: 'usage',
  help: 'help',
} as const;

const helpText = [
  'Baton commands:',
  `• \`${usages.tasks}\` — this thread's tasks (in a channel: the channel's)`,
  `• \`${usages.status}\` — a task's progress (its last activity and result if you may collect it)`,
  `• \`${usages.steer}\` — send a running task new instructions, or a completed one a follow-up (it runs again)`,
  `• \`${usages.cancel}\` — stop a task and the tasks it started`,
  `• \`${usages.collect}\` — a finished task's result`,
  `• \`${usages.merge}\` — merge a completed task's workspace change into its branch`,
  `• \`${usages.answer}\` — answer the question a task is waiting on`,
  `• \`${usages.approve}\` — let a task run the action it is waiting to have approved`,
  `• \`${usages.deny}\` — refuse it; the task is told why`,
  `• \`${usages.usage}\` — tokens and cost of you, this channel and its tasks (today, 30 days)`,
  `• \`${usages.help}\` — this list`,
].join('\n');

/**
 * Parses the words after `/baton` or the bot's mention (adapters strip those). The command word is
 * case-insensitive; an id may be wrapped in backticks, as boards show it.
 */
export function parseCommand(text: string): ParsedCommand | { error: string } {
  const match = /^(\S+)(?:\s+(\S+))?(?:\s+([\s\S]+))?$/.exec(text.trim());
  if (!match) return { name: 'help' };
  const word = match[1]!.toLowerCase();
  const argument = match[2]?.replace(/^`(.*)`$/, '$1').toLowerCase();
  const rest = match[3];
  switch (word) {
    case 'help':
      return { name: 'help' };
    case 'tasks':
      return argument === undefined ? { name: 'tasks' } : usageError('tasks');
    case 'usage':
      return argument === undefined ? { name: 'usage' } : usageError('usage');
    case 'status':
    case 'cancel':
    case 'collect':
    case 'merge':
      if (argument === undefined || rest !== undefined) return usageError(word);
      return taskIdPattern.test(argument) ? { name: word, taskId: argument } : usageError(word, true);
    case 'steer':
      if (argument === undefined) return usageError('steer');
      if (!taskIdPattern.test(argument)) return usageError('steer', true);
      return rest === undefined
        ? usageError('steer')
        : { name: 'steer', taskId: argument, message: rest.trim() };
    case 'answer':
      if (argument === undefined || rest === undefined) return usageError('answer');
      if (!taskIdPattern.test(argument)) return usageError('answer', true);
      return { name: 'answer', taskId: argument, text: rest.trim() };
    case 'approve':
      if (argument === undefined || rest !== undefined) return usageError('approve');
      return taskIdPattern.test(argument)
        ? { name: 'approve', taskId: argument }
        : usageError('approve', true);
    case 'deny':
      if (argument === undefined) return usageError('deny');
      if (!taskIdPattern.test(argument)) return usageError('deny', true);
      return rest === undefined
        ? { name: 'deny', taskId: argument }
        : { name: 'deny', taskId: argument, reason: rest.trim() };
    default:
      return {
        error: `Unknown command "${shortGoal(match[1]!, 30)}". Try: ${Object.values(usages).join(', ')}.`,
      };
  }
}

function usageError(name: keyof typeof usages, badId = false): { error: string } {
  return { error: `Usage: ${usages[name]}${badId ? ' (task ids look like t_7k2m9q)' : ''}` };
}

export interface CommandRouterOptions {
  service: TaskService;
  store: TaskStore;
  access: AccessPolicy;
  /** Answers `usage` (tokens and cost); without it the command says usage is not available. */
  usageReport?: (user: ChatUser, ref: ConversationRef) => Promise<string>;
  /** Where unexpected failures are logged; the person sees one generic line. */
  logger?: Logger;
  /** Merges completed tasks' workspace changes (`merge`); without it the command says merging is not available. */
  workspaces?: WorkspaceStore;
}

/** At most this many tasks are listed by `tasks`; the rest are counted. */
const listedTasks = 15;
/** How many of a channel's newest tasks `tasks` reads (the count of the rest stops there). */
const readTasks = 200;
const statusSummaryChars = 300;

/** Answers chat commands by acting on tasks directly, never through a model; one router for every platform. */
export class CommandRouter {
  private readonly service: TaskService;
  private readonly store: TaskStore;
  private readonly access: AccessPolicy;
  private readonly logger: Logger | undefined;
  private readonly usageReport: CommandRouterOptions['usageReport'];
  private readonly workspaces: WorkspaceStore | undefined;

  constructor(options: CommandRouterOptions) {
    this.usageReport = options.usageReport;
    this.workspaces = options.workspaces;
    this.service = options.service;
    this.store = options.store;
    this.access = options.access;
    this.logger = options.logger;
  }

  /**
   * `isMember` says whether the asker is a member of a private thread of the channel (the adapter asks its
   * platform); without it, tasks of private threads are seen only from inside their thread.
   */
  async handle(
    command: ChatCommand,
    isMember: PrivateThreadMembership = noPrivateThreadMembership,
  ): Promise<CommandReply> {
    const { user, ref } = command;
    let name = 'unparsed';
    try {
      if (!this.access.isAllowed(user, ref)) {
        return privately("You're not allowed to use Baton here. Ask an admin to add you.");
      }
      const parsed = parseCommand(command.text);
      if ('error' in parsed) return privately(parsed.error);
      name = parsed.name;
      return await this.run(parsed, user, ref, isMember);
    } catch (error) {
      if (isBatonError(error) && error.fault === 'user') return privately(error.message);
      this.logger?.error({ err: error, command: name, platform: ref.platform }, 'chat command failed');
      return privately('Something went wrong handling that command.');
    }
  }

  private async run(
    command: ParsedCommand,
    user: ChatUser,
    ref: ConversationRef,
    isMember: PrivateThreadMembership,
  ): Promise<CommandReply> {
    switch (command.name) {
      case 'help':
        return privately(helpText);
      case 'tasks':
        return publicly(await this.listTasks(ref, isMember));
      case 'usage':
        // Personal figures: only the person who asked sees them.
        return privately(
          this.usageReport ? await this.usageReport(user, ref) : 'Usage reports are not available here.',
        );
      case 'status': {
        // Private: a summary goes only to who may collect the task; others get status and timing only.
        const task = await this.visibleTask(ref, command.taskId, isMember);
        const mayCollect = this.access.refusal(user, ref, task, 'collect') === null;
        return privately(await this.status(task, mayCollect));
      }
      case 'steer': {
        const task = await this.controlledTask(user, ref, command.taskId, 'steer', isMember);
        if (isTerminal(task.status) && task.status !== 'completed') {
          return privately(
            `${task.id} already ${statusWord(task.status)}; it can't be steered. Only a completed task can be ` +
              'reopened with a follow-up.',
          );
        }
        const { reopened, round } = await this.service.steer(
          callerFor(task, user, ref),
          task.id,
          command.message,
        );
        return reopened
          ? publicly(
              `Reopened ${task.id} with your follow-up (round ${round}); its new result will be posted here.`,
            )
          : privately(`Steering message queued for ${task.id}.`);
      }
      case 'cancel': {
        const task = await this.controlledTask(user, ref, command.taskId, 'cancel', isMember);
        if (isTerminal(task.status)) return privately(`${task.id} already ${statusWord(task.status)}.`);
        const started = await this.activeDescendants(task.id);
        const { stopped } = await this.service.cancel(callerFor(task, user, ref), task.id);
        const descendants = started > 0 ? ` (and ${started} task${started === 1 ? '' : 's'} it started)` : '';
        const lagging = stopped ? '' : ' It may take a few more seconds to stop.';
        return publicly(`Cancelled ${task.id}${descendants}.${lagging}`);
      }
      case 'collect': {
        const task = await this.controlledTask(user, ref, command.taskId, 'collect', isMember);
        if (!isTerminal(task.status)) {
          return privately(
            `${task.id} is still ${statusWord(task.status)} (${formatDuration(elapsedSeconds(task))}, ` +
              `${stepCount(task.steps)}); its result will be posted in its thread when it ends.`,
          );
        }
        const result =
          task.status === 'completed'
            ? ((await this.store.fullSummary(task.id)) ?? task.summary)
            : (task.error ?? task.summary);
        return publicly(`${taskLine(task)}\n\n${result || '(no result text)'}`);
      }
      case 'answer': {
        // Who may steer a task may answer it.
        const task = await this.controlledTask(user, ref, command.taskId, 'steer', isMember);
        const { answer } = await this.service.answer(callerFor(task, user, ref), task.id, command.text);
        return privately(`Answer recorded for ${task.id} (“${cutText(answer, 80)}”); it goes on now.`);
      }
      case 'approve':
      case 'deny': {
        const task = await this.visibleTask(ref, command.taskId, isMember);
        const approved = command.name === 'approve';
        const reason = command.name === 'deny' ? command.reason : undefined;
        await this.service.decide(callerFor(task, user, ref), task.id, approved, reason);
        const tool = task.prompt?.action?.tool ?? 'its action';
        return publicly(
          approved
            ? `${user.name} approved ${tool} for ${task.id}; it runs now.`
            : `${user.name} denied ${tool} for ${task.id}${reason ? ` (${cutText(reason, 200)})` : ''}; the task is told.`,
        );
      }
      case 'merge': {
        // The same decision as cancel: merging changes the shared repository.
        const task = await this.controlledTask(user, ref, command.taskId, 'merge', isMember);
        if (!this.workspaces) return privately('Merging is not available here.');
        const outcome = await mergeCompletedTask(this.workspaces, task, {
          by: user.name,
          recorder: this.store,
        });
        return publicly(mergeOutcomeText(task.id, outcome));
      }
    }
  }

  /** In a thread, its tasks; at the channel, the channel's tasks the asker may see (private threads respected). */
  private async listTasks(ref: ConversationRef, isMember: PrivateThreadMembership): Promise<string> {
    const all = isChannelLevel(ref)
      ? await this.store.listChannel(ref.platform, ref.channel, readTasks)
      : await this.store.listSession(sessionKeyOf(ref), { limit: readTasks });
    const tasks = await tasksListedFrom(all, ref, isMember);
    if (tasks.length === 0) return `No tasks in this ${isChannelLevel(ref) ? 'channel' : 'thread'} yet.`;
    const lines = tasks.slice(0, listedTasks).map(taskLine);
    const more = tasks.length - listedTasks;
    if (more > 0) lines.push(`…and ${more}${tasks.length === readTasks ? '+' : ''} more`);
    return lines.join('\n');
  }

  private async status(task: TaskRecord, withDetails: boolean): Promise<string> {
    if (!withDetails) {
      return `${[task.id, statusWord(task.status), formatDuration(elapsedSeconds(task))].join(' · ')}`;
    }
    const lines = [taskLine(task)];
    const [lastEvent] = await this.store.recentEvents(task.id, 1);
    // How long ago, not a clock time: every reader is in a time zone of their own.
    if (lastEvent) {
      const ago = formatDuration((Date.now() - lastEvent.at) / 1000);
      lines.push(`last: ${activityText(lastEvent, task.steps)} (${ago} ago)`);
    }
    if (task.merge) lines.push(capitalized(mergeLine(task.merge)));
    if (isTerminal(task.status)) {
      const outcome = task.status === 'completed' ? task.summary : (task.error ?? task.summary);
      if (outcome) lines.push(cutText(outcome, statusSummaryChars));
      if (outcome && outcome.length > statusSummaryChars) {
        lines.push(`_(cut to ${statusSummaryChars} characters: \`collect ${task.id}\` shows all of it)_`);
      }
    }
    return lines.join('\n');
  }

  /**
   * The task, if the asker may see it from here (this channel, and not a private thread they are not in).
   * An id of elsewhere gets the same answer as an id that does not exist.
   */
  private async visibleTask(
    ref: ConversationRef,
    taskId: string,
    isMember: PrivateThreadMembership,
  ): Promise<TaskRecord> {
    const task = await this.store.get(taskId);
    if (!task || !(await isTaskVisibleFrom(task, ref, isMember))) {
      throw new BatonError('unknown_task', `No task ${taskId} here.`, { fault: 'user' });
    }
    return task;
  }

  private async controlledTask(
    user: ChatUser,
    ref: ConversationRef,
    taskId: string,
    verb: 'steer' | 'cancel' | 'collect' | 'merge',
    isMember: PrivateThreadMembership,
  ): Promise<TaskRecord> {
    const task = await this.visibleTask(ref, taskId, isMember);
    const refusal = this.access.refusal(user, ref, task, verb);
    if (refusal) throw new BatonError('access_denied', `${capitalized(refusal)}.`, { fault: 'user' });
    return task;
  }

  /** Queued or running tasks under `taskId`, which a cancel stops too. */
  private async activeDescendants(taskId: string): Promise<number> {
    const seen = new Set<string>([taskId]);
    let frontier = [taskId];
    let active = 0;
    while (frontier.length > 0) {
      const children = (await Promise.all(frontier.map((id) => this.store.childrenOf(id))))
        .flat()
        .filter((id) => !seen.has(id));
      for (const id of children) seen.add(id);
      const records = await this.store.getMany(children);
      active += records.filter((record) => record !== null && activeStatuses.has(record.status)).length;
      frontier = children;
    }
    return active;
  }
}

/**
 * Steering and cancelling act for the task's own session (the parent's side), for the person writing in
 * `ref`: the task service asks the same access decision again.
 */
function callerFor(task: TaskRecord, user: ChatUser, ref: ConversationRef): TaskCaller {
  return {
    sessionKey: task.sessionKey,
    origin: { platform: ref.platform, channel: ref.channel, thread: ref.thread, user: user.id },
    callerTaskId: null,
    depth: 0,
    displayName: user.name,
    actor: user,
  };
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function privately(text: string): CommandReply {
  return { text, ephemeral: true };
}

function publicly(text: string): CommandReply {
  return { text, ephemeral: false };
}
