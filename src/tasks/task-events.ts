import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { TaskEvent, TaskEventType } from './task-record.ts';
import { streamFieldsToObject } from './task-serialization.ts';

/**
 * Each task's event stream (what it did, step by step), written directly. The Lua scripts of
 * src/tasks/lua/ add their own events to the same stream as part of their status changes.
 */
export class TaskEvents {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Each task's stream is trimmed to about this many events. */
    private readonly maxEvents: number,
  ) {}

  async append(taskId: string, type: TaskEventType, text: string): Promise<void> {
    await this.redis.xadd(this.keys.taskEvents(taskId), ...this.entry(type, String(Date.now()), text));
  }

  /** Several events, possibly of several tasks, in one round trip. */
  async appendMany(events: [taskId: string, type: TaskEventType, text: string][]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline();
    const at = String(Date.now());
    for (const [taskId, type, text] of events) {
      pipeline.xadd(this.keys.taskEvents(taskId), ...this.entry(type, at, text));
    }
    await pipeline.exec();
  }

  /** The last `count` events, oldest first. */
  async recent(taskId: string, count: number): Promise<TaskEvent[]> {
    const entries = await this.redis.xrevrange(this.keys.taskEvents(taskId), '+', '-', 'COUNT', count);
    return entries.reverse().map(([id, fields]) => {
      const values = streamFieldsToObject(fields);
      return { id, type: values.type as TaskEventType, at: Number(values.at ?? 0), text: values.text ?? '' };
    });
  }

  /** XADD's arguments after the key: trim the stream, let Redis pick the id, then the fields. */
  private entry(type: TaskEventType, at: string, text: string) {
    return ['MAXLEN', '~', this.maxEvents, '*', 'type', type, 'at', at, 'text', text] as const;
  }
}
