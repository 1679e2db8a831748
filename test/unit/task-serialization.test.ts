import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../src/tasks/task-record.ts';
import { fieldsToRecord, recordToFields } from '../../src/tasks/task-serialization.ts';

const record: TaskRecord = {
  id: 't_abc123',
  sessionKey: 'console:local:thread-1',
  origin: { platform: 'console', channel: 'local', thread: 'thread-1', user: 'u1', userRoleIds: [] },
  parentTaskId: null,
  depth: 1,
  role: 'leaf',
  goal: 'read the page',
  context: '',
  toolsets: ['web'],
  route: 'default',
  status: 'queued',
  createdAt: 1,
  startedAt: null,
  endedAt: null,
  steps: 0,
  usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  summary: null,
  error: null,
  attempts: 0,
};

function hashOf(changes: Record<string, string>): Record<string, string> {
  const fields = recordToFields(record);
  const hash: Record<string, string> = {};
  for (let index = 0; index < fields.length; index += 2) hash[fields[index]!] = fields[index + 1]!;
  return { ...hash, ...changes };
}

describe('task record fields', () => {
  it('read back as written, keeping origin fields a newer release added', () => {
    expect(fieldsToRecord(hashOf({}))).toEqual(record);
    const origin = { ...record.origin, team: 'blue' };
    expect(fieldsToRecord(hashOf({ origin: JSON.stringify(origin) }))?.origin).toEqual(origin);
  });

  it('refuse JSON fields that do not match their shape, naming the task and the field', () => {
    const read = (changes: Record<string, string>) => () => fieldsToRecord(hashOf(changes));
    expect(read({ origin: '{"platform":"console"}' })).toThrow(
      /^task t_abc123: its stored origin cannot be read \(/,
    );
    expect(read({ toolsets: '"web"' })).toThrow(/its stored toolsets cannot be read/);
    expect(read({ usage: '{"prompt_tokens":"many"}' })).toThrow(/its stored usage cannot be read/);
    expect(read({ origin: '{cut' })).toThrow(/its stored origin cannot be read \(not JSON\)/);
  });
});
