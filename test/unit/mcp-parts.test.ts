import { describe, expect, it } from 'vitest';
import { onlyListedEnvironment } from '../../src/tools/mcp/mcp-connection.ts';
import { toModelResult } from '../../src/tools/mcp/mcp-result.ts';
import { maxToolNameChars, modelToolName } from '../../src/tools/mcp/mcp-tool-names.ts';
import { toModelParameters } from '../../src/tools/mcp/mcp-toolset.ts';

describe('modelToolName', () => {
  it('is <server>__<tool> when that fits the providers rule', () => {
    expect(modelToolName('tracker', 'search_issues', new Set())).toBe('tracker__search_issues');
  });

  it('replaces characters outside [a-zA-Z0-9_-] and keeps within 64 characters, never repeating a name', () => {
    const taken = new Set<string>();
    const dotted = modelToolName('db', 'tables.list', taken);
    expect(dotted).toBe('db__tables_list');
    // Another tool that sanitizes to the same name gets a hashed one instead of a duplicate.
    const clash = modelToolName('db', 'tables/list', taken);
    expect(clash).not.toBe(dotted);
    expect(clash).toMatch(/^db__tables_list_[0-9a-f]{8}$/);
    const long = modelToolName('a-rather-long-server-name', 'x'.repeat(80), taken);
    expect(long.length).toBe(maxToolNameChars);
    expect(long).toMatch(/^[a-zA-Z0-9_-]+$/);
    const otherLong = modelToolName('a-rather-long-server-name', `${'x'.repeat(79)}y`, taken);
    expect(otherLong).not.toBe(long);
    expect(otherLong.length).toBeLessThanOrEqual(maxToolNameChars);
  });
});

describe('toModelResult', () => {
  it('passes text and structured content, notes images, links resources', () => {
    expect(
      toModelResult({
        content: [
          { type: 'text', text: 'first' },
          { type: 'image', data: 'AAAA', mimeType: 'image/png' },
          { type: 'resource_link', uri: 'file:///a.txt', name: 'a.txt', mimeType: 'text/plain' },
          { type: 'resource', resource: { uri: 'file:///b.txt', text: 'inside b' } },
          { type: 'resource', resource: { uri: 'file:///c.bin', blob: 'AAAAAAAA' } },
          { type: 'text', text: 'second' },
        ],
        structuredContent: { answer: 42 },
      }),
    ).toEqual({
      text: 'first\n\nsecond',
      structured: { answer: 42 },
      resources: [
        { uri: 'file:///a.txt', name: 'a.txt', mimeType: 'text/plain' },
        { uri: 'file:///b.txt', text: 'inside b' },
        { uri: 'file:///c.bin', note: 'binary content (6 bytes) not shown' },
      ],
      notes: ['image (image/png, 3 bytes) not shown'],
    });
  });

  it('turns a result marked isError into a tool error with its text', () => {
    expect(() =>
      toModelResult({ content: [{ type: 'text', text: 'no such issue' }], isError: true }),
    ).toThrow('no such issue');
  });
});

describe('toModelParameters', () => {
  it('gives providers an object schema with properties, without $schema', () => {
    expect(
      toModelParameters({ type: 'object', $schema: 'http://json-schema.org/draft-07/schema#' } as never),
    ).toEqual({
      type: 'object',
      properties: {},
    });
  });
});

describe('onlyListedEnvironment', () => {
  it('keeps only the listed variables and blanks the ones the SDK would add on its own', () => {
    const environment = onlyListedEnvironment(['TOKEN', 'MISSING'], {
      TOKEN: 't',
      PATH: '/usr/bin',
      HOME: '/root',
      DISCORD_TOKEN: 'd',
    });
    expect(Object.entries(environment).filter(([, value]) => value !== undefined)).toEqual([['TOKEN', 't']]);
    expect('PATH' in environment && environment.PATH === undefined).toBe(true);
  });
});
