import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { isBatonError } from '../../src/errors.ts';

function writeConfigFile(contents: string): string {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'baton-config-'));
  const file = path.join(directory, 'baton.yaml');
  writeFileSync(file, contents);
  return file;
}

describe('loadConfig', () => {
  it('loads the documented defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config.redis.prefix).toBe('baton');
    expect(config.delegation.max_spawn_depth).toBe(1);
    expect(config.delegation.max_concurrent_children).toBe(8);
    expect(config.worker.concurrency).toBe(50);
    expect(config.models.routes.default?.api_key_env).toEqual(['OPENAI_API_KEY']);
  });

  it('applies default, then BATON_CONFIG, then environment variables', () => {
    const file = writeConfigFile(
      ['redis:', '  url: redis://file:1', 'delegation:', '  max_concurrent_children: 3'].join('\n'),
    );
    const config = loadConfig({
      env: {
        BATON_CONFIG: file,
        REDIS_URL: 'redis://env:2',
        BATON_MODEL: 'env-model',
        BATON_CONSOLE_PORT: '9001',
      },
    });
    expect(config.redis.url).toBe('redis://env:2');
    expect(config.delegation.max_concurrent_children).toBe(3);
    expect(config.delegation.max_batch_size).toBe(5);
    expect(config.models.routes.default?.model).toBe('env-model');
    expect(config.console.port).toBe(9001);
  });

  it('expands ${ENV} references, with fallbacks', () => {
    const file = writeConfigFile(
      [
        'models:',
        '  routes:',
        '    local:',
        '      model: ${LOCAL_MODEL}',
        '      base_url: http://${LOCAL_HOST:-127.0.0.1}:11434/v1',
        '      api_key_env: [LOCAL_KEY_A, LOCAL_KEY_B]',
      ].join('\n'),
    );
    const config = loadConfig({ env: { BATON_CONFIG: file, LOCAL_MODEL: 'llama3' } });
    expect(config.models.routes.local).toEqual({
      model: 'llama3',
      base_url: 'http://127.0.0.1:11434/v1',
      api_key_env: ['LOCAL_KEY_A', 'LOCAL_KEY_B'],
    });
  });

  it('reports every invalid key by path', () => {
    const file = writeConfigFile(
      [
        'delegation:',
        '  max_spawn_depth: 0',
        '  announce: loudly',
        'worker:',
        '  concurrency: many',
        '  unknown_key: 1',
      ].join('\n'),
    );
    let caught: unknown;
    try {
      loadConfig({ env: { BATON_CONFIG: file } });
    } catch (error) {
      caught = error;
    }
    expect(isBatonError(caught, 'config_invalid')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('delegation.max_spawn_depth');
    expect(message).toContain('delegation.announce');
    expect(message).toContain('worker.concurrency');
    expect(message).toContain('worker: Unrecognized key: "unknown_key"');
  });

  it('refuses a console bound beyond loopback without a token', () => {
    expect(() => loadConfig({ env: {}, overrides: { console: { host: '0.0.0.0' } } })).toThrow(
      /console\.token/,
    );
  });

  it('names a missing config file', () => {
    expect(() => loadConfig({ env: { BATON_CONFIG: '/nonexistent/baton.yaml' } })).toThrow(/not found/);
  });
});
