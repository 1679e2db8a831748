import type { Redis } from 'ioredis';
import { taskKeySeconds } from '../redis/key-lifetimes.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { RedisScriptRunner } from '../redis/redis-script-runner.ts';
import { cutText } from '../text/cut-text.ts';
import type { TaskStatus } from './task-record.ts';
import { steerScript } from './task-scripts.ts';
import { streamFieldsToObject } from './task-serialization.ts';

/** Longest text of a steer's `steer-queued` event, in characters. */
const steerEventChars = 200;

/** The `steer-queued` event's line of a steer. */
export function steerEventLine(from: string, text: string): string {
  return `from ${from}: ${cutText(text, steerEventChars, { marker: '' })}`;
}

export interface SteeringMessage {
  id: string;
  from: string;
  text: string;
  at: number;
}

/** Each task's steering inbox: messages people send a running task, read by its runner between steps. */
export class TaskInbox {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly scripts: RedisScriptRunner,
    /** Each task's event stream is trimmed to about this many events (a steer adds one). */
    private readonly maxEvents: number,
    /** redis.retention_days in seconds: a steer's idempotency record lives no longer than its task. */
    private readonly retentionSeconds: number,
  ) {}

  /** Queues a steering message; refused when the task has finished. See lua/steer-task.lua for the idempotency key. */
  async steer(
    taskId: string,
    from: string,
    text: string,
    idempotencyKey?: string,
  ): Promise<{ outcome: 'ok' | 'refused' | 'missing'; status?: TaskStatus; messageId?: string }> {
    const [outcome, detail] = await this.scripts.run<[string, string?]>(
      steerScript,
      [
        this.keys.task(taskId),
        this.keys.taskInbox(taskId),
        this.keys.taskEvents(taskId),
        idempotencyKey ? this.keys.steerRecord(idempotencyKey) : '',
      ],
      [
        from,
        text,
        Date.now(),
        this.maxEvents,
        this.keys.signalChannel(),
        taskKeySeconds('steerRecord', this.retentionSeconds),
        steerEventLine(from, text),
      ],
    );
    if (outcome === 'ok') return { outcome, messageId: detail! };
    return { outcome: outcome as 'refused' | 'missing', status: detail as TaskStatus };
  }

  /** Steering messages after `afterId`, oldest first. */
  async read(taskId: string, afterId: string): Promise<SteeringMessage[]> {
    const entries = await this.redis.xrange(this.keys.taskInbox(taskId), `(${afterId}`, '+');
    return entries.map(([id, fields]) => {
      const values = streamFieldsToObject(fields);
      return { id, from: values.from ?? 'someone', text: values.text ?? '', at: Number(values.at ?? 0) };
    });
  }
}
