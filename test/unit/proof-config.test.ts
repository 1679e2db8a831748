import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load-config.ts';

/*
 * Proof for issue 2, "Configuration": every key of config/default.yaml commented and present, the OpenAI
 * environment variables, the defaults the issue names, and an invalid config stopping a real start-up.
 */

const defaultYaml = readFileSync(path.resolve('config/default.yaml'), 'utf8');

function leafPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
}

describe('config/default.yaml', () => {
  it('comments every key: each key line has a comment above it or heads a group under one', () => {
    const lines = defaultYaml.split('\n');
    const uncommented: string[] = [];
    lines.forEach((line, index) => {
      const match = /^(\s*)([A-Za-z_][\w-]*):(.*)$/.exec(line);
      if (!match) return;
      const [, indent, , rest] = match;
      // Section headers (a key with nested keys under it) are named by their children's comments.
      const next = lines.slice(index + 1).find((candidate) => candidate.trim() !== '');
      const isSection =
        rest!.trim() === '' && next !== undefined && /^\s*/.exec(next)![0].length > indent!.length;
      if (isSection || rest!.includes('#')) return;
      // Walk up over sibling key lines of a group to the comment that covers them.
      for (let above = index - 1; above >= 0; above -= 1) {
        const previous = lines[above]!;
        if (previous.trim().startsWith('#')) return;
        if (previous.trim() === '' || !previous.startsWith(indent!) || /^\s*- /.test(previous)) break;
        if (/^\s*/.exec(previous)![0].length !== indent!.length) break;
      }
      uncommented.push(`${index + 1}: ${line.trim()}`);
    });
    expect(uncommented).toEqual([]);
  });

  it('lists every key the schema knows (nothing undocumented)', () => {
    const documented = new Set(leafPaths(parse(defaultYaml)));
    const known = leafPaths(loadConfig({ env: {} }));
    expect(known.filter((key) => !documented.has(key))).toEqual([]);
  });
});

describe('loadConfig, the parts the issue names', () => {
  it('maps OPENAI_BASE_URL and BATON_MODEL onto the default route, whose keys come from OPENAI_API_KEY', () => {
    const config = loadConfig({
      env: { OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', BATON_MODEL: 'llama3', OPENAI_API_KEY: 'sk-x' },
    });
    expect(config.models.routes.default).toMatchObject({
      model: 'llama3',
      base_url: 'http://127.0.0.1:11434/v1',
      api_key_env: ['OPENAI_API_KEY'],
    });
  });

  it('has the defaults the issues name: board edits 2 s apart, and lock/stall that recover a job within 5 s', () => {
    const config = loadConfig({ env: {} });
    expect(config.gateway.board_interval_ms).toBe(2000);
    expect(config.delegation.max_batch_size).toBeGreaterThan(0);
    // A killed worker's lock expires after lock_duration_ms; the next stall check runs within stalled_interval_ms.
    expect(config.worker.lock_duration_ms + config.worker.stalled_interval_ms).toBeLessThanOrEqual(5000);
    expect(config.console.port).toBe(8787);
    expect(config.console.host).toBe('127.0.0.1');
  });

  it('stops a real `baton worker` start-up listing every bad key by path', () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-proof-config-'));
    const file = path.join(directory, 'baton.yaml');
    writeFileSync(
      file,
      [
        'delegation:',
        '  max_concurrent_children: -3',
        'worker:',
        '  concurrency: lots',
        'redis:',
        '  bogus: 1',
      ].join('\n'),
    );
    const result = spawnSync(process.execPath, [path.resolve('bin/baton.js'), 'worker'], {
      env: { ...process.env, BATON_CONFIG: file, REDIS_URL: 'redis://127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const output = `${result.stdout}${result.stderr}`;
    expect(result.status).not.toBe(0);
    expect(result.signal).toBeNull();
    expect(output).not.toContain('worker ready');
    expect(output).toContain('delegation.max_concurrent_children');
    expect(output).toContain('worker.concurrency');
    expect(output).toMatch(/redis.*bogus/);
  }, 40_000);
});

describe('capSummary', () => {
  it('never exceeds the cap, whatever its size', async () => {
    const { capSummary } = await import('../../src/agent/child-prompt.ts');
    const text = 'x'.repeat(500);
    for (const cap of [1, 10, 43, 44, 80, 499, 500, 501]) {
      const summary = capSummary(text, cap);
      expect(summary.length).toBe(Math.min(cap, 500));
    }
    expect(capSummary('short', 80)).toBe('short');
  });
});
