import { BatonError, isBatonError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { taskIdPattern } from '../tasks/task-ids.ts';
import { activeStatuses, isTerminal, type TaskRecord } from '../tasks/task-record.ts';
import type { TaskCaller, TaskService } from '../tasks/task-service.ts';
import type { TaskStore } from '../tasks/task-store.ts';
import { elapsedSeconds, eventLine, shortGoal } from '../tools/delegation/task-views.ts';
import type { AccessPolicy } from './access-policy.ts';
import type { ChatCommand, ChatUser, CommandReply, ConversationRef } from './chat-adapter.ts';
import { formatDuration, stepCount } from './delivery/result-text.ts';
import { statusWord } from './render-board.ts';

/** A chat command, parsed: what every adapter's slash command, mention words or button comes down to. */
export type ParsedCommand =
  | { name: 'tasks' }
  | { name: 'help' }
  | { name: 'usage' }
  | { name: 'status' | 'cancel' | 'collect'; taskId: string }
  | { name: 'steer'; taskId: string; message: string };

const usages = {
  tasks: 'tasks',
  status: 'status <task id>',
  steer: 'steer <task id> <message>',
  cancel: 'cancel <task id>',
  collect: 'collect <task id>',
  usage: 'usage',
  help: 'help',
} as const;

const helpText = [
  'Baton commands:',
  `• \`${usages.tasks}\` — this channel's tasks`,
  `• \`${usages.status}\` — a task's progress and last activity`,
  `• \`${usages.steer}\` — send a running task new instructions`,
  `• \`${usages.cancel}\` — stop a task and the tasks it started`,
  `• \`${usages.collect}\` — a finished task's result`,
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
      if (argument === undefined || rest !== undefined) return usageError(word);
      return taskIdPattern.test(argument) ? { name: word, taskId: argument } : usageError(word, true);
    case 'steer':
      if (argument === undefined) return usageError('steer');
      if (!taskIdPattern.test(argument)) return usageError('steer', true);
      return rest === undefined
        ? usageError('steer')
        : { name: 'steer', taskId: argument, message: rest.trim() };
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

  constructor(options: CommandRouterOptions) {
    this.usageReport = options.usageReport;
    this.service = options.service;
    this.store = options.store;
    this.access = options.access;
    this.logger = options.logger;
  }

  async handle(command: ChatCommand): Promise<CommandReply> {
    const { user, ref } = command;
    let name = 'unparsed';
    try {
      if (!this.access.isAllowed(user, ref)) {
        return privately("You're not allowed to use Baton here. Ask an admin to add you.");
      }
      const parsed = parseCommand(command.text);
      if ('error' in parsed) return privately(parsed.error);
      name = parsed.name;
      return await this.run(parsed, user, ref);
    } catch (error) {
      if (isBatonError(error) && error.fault === 'user') return privately(error.message);
      this.logger?.error({ err: error, command: name, platform: ref.platform }, 'chat command failed');
      return privately('Something went wrong handling that command.');
    }
  }

  private async run(command: ParsedCommand, user: ChatUser, ref: ConversationRef): Promise<CommandReply> {
    switch (command.name) {
      case 'help':
        return privately(helpText);
      case 'tasks':
        return publicly(await this.listChannel(ref));
      case 'usage':
        // Personal figures: only the person who asked sees them.
        return privately(
          this.usageReport ? await this.usageReport(user, ref) : 'Usage reports are not available here.',
        );
      case 'status':
        return publicly(await this.status(await this.channelTask(ref, command.taskId)));
      case 'steer': {
        const task = await this.controlledTask(user, ref, command.taskId, 'steer');
        if (isTerminal(task.status)) {
          return privately(`${task.id} already ${statusWord(task.status)}; it can't be steered.`);
        }
        await this.service.steer(callerFor(task, user), task.id, command.message);
        return privately(`Steering message queued for ${task.id}.`);
      }
      case 'cancel': {
        const task = await this.controlledTask(user, ref, command.taskId, 'cancel');
        if (isTerminal(task.status)) return privately(`${task.id} already ${statusWord(task.status)}.`);
        const started = await this.activeDescendants(task.id);
        const { stopped } = await this.service.cancel(callerFor(task, user), task.id);
        const descendants = started > 0 ? ` (and ${started} task${started === 1 ? '' : 's'} it started)` : '';
        const lagging = stopped ? '' : ' It may take a few more seconds to stop.';
        return publicly(`Cancelled ${task.id}${descendants}.${lagging}`);
      }
      case 'collect': {
        const task = await this.controlledTask(user, ref, command.taskId, 'collect');
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
    }
  }

  private async listChannel(ref: ConversationRef): Promise<string> {
    const tasks = await this.store.listChannel(ref.platform, ref.channel, readTasks);
    if (tasks.length === 0) return 'No tasks in this channel yet.';
    const lines = tasks.slice(0, listedTasks).map(taskLine);
    const more = tasks.length - listedTasks;
    if (more > 0) lines.push(`…and ${more}${tasks.length === readTasks ? '+' : ''} more`);
    return lines.join('\n');
  }

  private async status(task: TaskRecord): Promise<string> {
    const lines = [taskLine(task)];
    const [lastEvent] = await this.store.recentEvents(task.id, 1);
    if (lastEvent) lines.push(`last: ${eventLine(lastEvent)}`);
    if (isTerminal(task.status)) {
      const outcome = task.status === 'completed' ? task.summary : (task.error ?? task.summary);
      if (outcome) lines.push(capped(outcome, statusSummaryChars));
    }
    return lines.join('\n');
  }

  /** The task, if it was started from this channel; ids are scoped to the channel a command comes from. */
  private async channelTask(ref: ConversationRef, taskId: string): Promise<TaskRecord> {
    const task = await this.store.get(taskId);
    if (!task) throw new BatonError('unknown_task', `No task ${taskId}.`, { fault: 'user' });
    if (task.origin.platform !== ref.platform || task.origin.channel !== ref.channel) {
      throw new BatonError('task_of_other_session', `Task ${taskId} isn't from this channel.`, {
        fault: 'user',
      });
    }
    return task;
  }

  private async controlledTask(
    user: ChatUser,
    ref: ConversationRef,
    taskId: string,
    verb: 'steer' | 'cancel' | 'collect',
  ): Promise<TaskRecord> {
    const task = await this.channelTask(ref, taskId);
    if (!this.access.canControlTask(user, ref, task)) {
      const who = this.access.taskControl === 'admins' ? 'an admin' : "the task's owner or an admin";
      throw new BatonError('access_denied', `Only ${who} can ${verb} it.`, { fault: 'user' });
    }
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

/** Steering and cancelling act for the task's own session (the parent's side), named after the person. */
function callerFor(task: TaskRecord, user: ChatUser): TaskCaller {
  return {
    sessionKey: task.sessionKey,
    origin: task.origin,
    callerTaskId: null,
    depth: 0,
    displayName: user.name,
  };
}

/** `t_7k2m9q · running · 2m 03s · 4 steps · check the deploy logs` */
function taskLine(task: TaskRecord): string {
  return [
    task.id,
    statusWord(task.status),
    formatDuration(elapsedSeconds(task)),
    stepCount(task.steps),
    shortGoal(task.goal, 60),
  ].join(' · ');
}

function capped(text: string, length: number): string {
  if (text.length <= length) return text;
  // Array.from counts code points, so an emoji at the edge is kept whole or dropped, never halved.
  return `${Array.from(text.slice(0, length)).slice(0, -1).join('').trimEnd()}…`;
}

function privately(text: string): CommandReply {
  return { text, ephemeral: true };
}

function publicly(text: string): CommandReply {
  return { text, ephemeral: false };
}
