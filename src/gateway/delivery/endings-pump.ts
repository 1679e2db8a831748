import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../../logging/logger.ts';
import type { RedisKeys } from '../../redis/redis-keys.ts';
import type { TaskStatus } from '../../tasks/task-record.ts';
import type { DeliveryJobData } from './delivery-service.ts';
import type { SettlementJobData } from './prompt-delivery.ts';

const groupName = 'gateways';
const blockMs = 2000;
// An entry read by a gateway that died unacknowledged is taken over after this long.
const claimIdleMs = 15_000;

type StreamEntries = Array<[id: string, fields: string[]]>;

/** The delivery job posting the prompt of a task's wait `round` (BullMQ ids may not contain ':'). */
export function promptJobId(taskId: string, round: number): string {
  return `prompt-${taskId}-${round}`;
}

/** The delivery job editing the prompt of a task's wait `round` once it is settled. */
export function promptOutcomeJobId(taskId: string, round: number): string {
  return `prompt-outcome-${taskId}-${round}`;
}

/**
 * Moves task endings (and parked tasks' prompts, posted and settled) from the durable Redis stream into delivery jobs. Every
 * gateway reads through one consumer group, so each ending is handled once; the job id is the task id (with
 * the round, for a reopened task's later rounds, or the prompt's), so a replayed entry never makes a second
 * delivery.
 */
export class EndingsPump {
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly reader: Redis,
    private readonly keys: RedisKeys,
    private readonly deliveries: Queue<DeliveryJobData>,
    private readonly consumerName: string,
    private readonly logger: Logger,
    private readonly onEnding: (status: TaskStatus) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    try {
      await this.reader.xgroup('CREATE', this.keys.taskEndings(), groupName, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('BUSYGROUP')) throw error;
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The reader is this pump's own connection: closing it ends a blocked XREADGROUP at once.
    this.reader.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    let lastClaim = 0;
    while (!this.stopped) {
      try {
        if (Date.now() - lastClaim > claimIdleMs) {
          lastClaim = Date.now();
          const claimed = (await this.reader.xautoclaim(
            this.keys.taskEndings(),
            groupName,
            this.consumerName,
            claimIdleMs,
            '0-0',
            'COUNT',
            100,
          )) as [string, StreamEntries];
          await this.handle(claimed[1] ?? []);
        }
        const reply = (await this.reader.xreadgroup(
          'GROUP',
          groupName,
          this.consumerName,
          'COUNT',
          100,
          'BLOCK',
          blockMs,
          'STREAMS',
          this.keys.taskEndings(),
          '>',
        )) as Array<[string, StreamEntries]> | null;
        await this.handle(reply?.[0]?.[1] ?? []);
      } catch (error) {
        if (this.stopped) return;
        this.logger.warn({ err: error }, 'reading task endings failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private async handle(entries: StreamEntries): Promise<void> {
    const valid = entries.filter(([, fields]) => fields && fields.length > 0);
    if (valid.length === 0) return;
    const jobs = valid.map(([id, fields]) => {
      const taskId = fields[fields.indexOf('taskId') + 1]!;
      // A settled prompt (settle-prompt.lua, or a parked task cancelled): its message is edited, once a round.
      if (fields.includes('settled')) return settledPromptJob(id, taskId, fields);
      // A parked task's prompt (park-task.lua) carries its wait round: one job, and one post, per round.
      const roundAt = fields.indexOf('round');
      if (roundAt >= 0) {
        const round = Number(fields[roundAt + 1]);
        return { name: 'prompt', data: { taskId, round }, opts: { jobId: promptJobId(taskId, round) } };
      }
      // A reopened task's later rounds (a follow-up) each end with their own result.
      const followUpAt = fields.indexOf('followUpRound');
      const followUpRound = followUpAt === -1 ? 1 : Number(fields[followUpAt + 1]) || 1;
      return followUpRound > 1
        ? { name: 'deliver', data: { taskId, followUpRound }, opts: { jobId: `${taskId}-f${followUpRound}` } }
        : { name: 'deliver', data: { taskId }, opts: { jobId: taskId } };
    });
    await this.deliveries.addBulk(jobs);
    await this.reader.xack(this.keys.taskEndings(), groupName, ...valid.map(([id]) => id));
    for (const [, fields] of valid) {
      // Prompts, posted or settled, are not endings (a cancel writes its ending apart).
      if (fields.includes('round')) continue;
      this.onEnding(fields[fields.indexOf('status') + 1] as TaskStatus);
    }
  }
}

/** The job editing a settled prompt, with what the outbox recorded: the prompt as asked, and its response. */
function settledPromptJob(entryId: string, taskId: string, fields: string[]) {
  const field = (name: string) => {
    const at = fields.indexOf(name);
    return at === -1 ? undefined : fields[at + 1];
  };
  const round = Number(field('round'));
  const response = field('response');
  const ended = field('status');
  const note = field('note');
  const settlement: SettlementJobData = {
    prompt: field('prompt') ?? '',
    ...(response ? { response } : { ...(ended ? { ended } : {}), ...(note ? { note } : {}) }),
    // The entry's id starts with the time Redis recorded it.
    at: Number(entryId.split('-')[0]) || Date.now(),
  };
  return {
    name: 'prompt-outcome',
    data: { taskId, round, settlement },
    opts: { jobId: promptOutcomeJobId(taskId, round) },
  };
}
