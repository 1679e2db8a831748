import { describe, expect, it } from 'vitest';
import {
  parseTaskCheckpoint,
  serializeTaskCheckpoint,
  type TaskCheckpoint,
  taskCheckpointVersion,
} from '../../src/tasks/task-checkpoint.ts';

const checkpoint: TaskCheckpoint = {
  messages: [
    { role: 'system', content: 'You are a worker.' },
    { role: 'user', content: 'go' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'probe', arguments: '{}' } }],
    },
  ],
  steps: 1,
  usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, cached_tokens: 4 },
  inboxCursor: '1796232907537-0',
  toolCallStarts: { call_1: 1 },
};

const reason = (text: string) => {
  try {
    parseTaskCheckpoint(text);
  } catch (error) {
    return (error as Error).message;
  }
  return 'read';
};

describe('task checkpoint', () => {
  it('is stored with its version and read back as it was', () => {
    const text = serializeTaskCheckpoint(checkpoint);
    expect(JSON.parse(text)).toMatchObject({ version: taskCheckpointVersion });
    expect(parseTaskCheckpoint(text)).toEqual(checkpoint);
  });

  it('reads version 0 (no version field), with or without tool call starts', () => {
    const { toolCallStarts: _starts, ...beforeStarts } = checkpoint;
    expect(parseTaskCheckpoint(JSON.stringify(checkpoint))).toEqual(checkpoint);
    expect(parseTaskCheckpoint(JSON.stringify(beforeStarts))).toEqual(beforeStarts);
  });

  it('refuses what it cannot read, saying why', () => {
    const stored = JSON.parse(serializeTaskCheckpoint(checkpoint)) as Record<string, unknown>;
    const variant = (change: Record<string, unknown>) => JSON.stringify({ ...stored, ...change });
    expect(reason('not json')).toMatch(/it is not JSON/);
    expect(reason('[]')).toMatch(/it is not a JSON object/);
    expect(reason(variant({ version: 2 }))).toMatch(
      /written by a newer Baton \(checkpoint version 2; this worker reads up to 1\)/,
    );
    expect(reason(variant({ version: '1' }))).toMatch(/its version "1" is not a version number/);
    expect(reason(variant({ steps: -1 }))).toMatch(/does not match checkpoint version 1 \(steps: /);
    expect(reason(variant({ inboxCursor: 'latest' }))).toMatch(/inboxCursor: a stream id/);
    expect(reason(variant({ messages: [{ role: 'robot', content: 'hi' }] }))).toMatch(/messages\.0/);
    expect(reason(variant({ toolCallStarts: { call_1: 'once' } }))).toMatch(/toolCallStarts\.call_1/);
  });
});

describe('the workspace commit of a checkpoint', () => {
  const commit = 'a'.repeat(40);

  it('is stored and read back; checkpoints without it (no workspace, or written before) still read', () => {
    const withCommit = { ...checkpoint, workspaceCommit: commit };
    expect(parseTaskCheckpoint(serializeTaskCheckpoint(withCommit))).toEqual(withCommit);
    expect(parseTaskCheckpoint(serializeTaskCheckpoint(checkpoint))).toEqual(checkpoint);
    const { version: _version, ...unversioned } = JSON.parse(serializeTaskCheckpoint(withCommit));
    expect(parseTaskCheckpoint(JSON.stringify(unversioned)).workspaceCommit).toBe(commit);
  });

  it('refuses something that is not a commit id', () => {
    const text = JSON.stringify({
      ...JSON.parse(serializeTaskCheckpoint(checkpoint)),
      workspaceCommit: '../x',
    });
    expect(reason(text)).toMatch(/workspaceCommit: a commit id/);
  });
});
