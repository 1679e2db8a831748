import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { chooseLogFormat } from '../../src/logging/logger.ts';
import { describeRedisConnectionError, displayRedisUrl } from '../../src/redis/redis-connection.ts';
import { redisTargetOf } from '../../src/redis/redis-target.ts';

const redisConfig = (overrides: Record<string, unknown>) =>
  loadConfig({ env: {}, overrides: { redis: overrides } }).redis;

describe('redisTargetOf', () => {
  it('is null with neither a URL nor sentinels (baton start then runs a private redis-server)', () => {
    expect(redisTargetOf(redisConfig({}))).toBeNull();
  });

  it('hides the password of a URL', () => {
    const target = redisTargetOf(redisConfig({ url: 'redis://:s3cret-password@redis.internal:6380/2' }))!;
    expect(target.url).toBe('redis://:s3cret-password@redis.internal:6380/2');
    expect(target.display).toBe('redis://:***@redis.internal:6380/2');
    expect(target.options).toEqual({});
  });

  it('asks the sentinels for the master, keeping the URL only for password and db', () => {
    const target = redisTargetOf(
      redisConfig({ sentinels: ['10.0.0.1:26379', '[::1]:26380'], sentinel_name: 'baton-master' }),
    )!;
    expect(target.options).toMatchObject({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'baton-master',
    });
    expect(target.display).toBe('sentinel master "baton-master" (10.0.0.1:26379, [::1]:26380)');
    const reconnect = target.options.reconnectOnError!;
    expect(reconnect(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(reconnect(new Error('ERR unknown command'))).toBe(false);
  });

  it('refuses sentinels without the master name, and a sentinel that is not host:port', () => {
    expect(() => redisConfig({ sentinels: ['10.0.0.1:26379'] })).toThrow(/redis.sentinel_name: required/);
    expect(() => redisConfig({ sentinels: ['10.0.0.1'], sentinel_name: 'm' })).toThrow(
      /redis.sentinels.0: host:port/,
    );
  });
});

describe('Redis connection errors in words', () => {
  it('names the usual causes', () => {
    const withCode = (code: string) => Object.assign(new Error(code), { code });
    expect(describeRedisConnectionError(withCode('ECONNREFUSED'), 'h')).toBe('connection refused');
    expect(describeRedisConnectionError(withCode('ENOTFOUND'), 'redis.example')).toBe(
      'unknown host redis.example',
    );
    expect(describeRedisConnectionError(new Error('WRONGPASS invalid username-password pair'), 'h')).toBe(
      'authentication failed',
    );
    expect(displayRedisUrl('redis://user:pw@h:1')).toBe('redis://user:***@h:1');
  });
});

describe('log format', () => {
  it('is pretty at a terminal and JSON otherwise, unless log.format (LOG_FORMAT) says which', () => {
    expect(chooseLogFormat('auto', true)).toBe('pretty');
    expect(chooseLogFormat('auto', false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
    expect(loadConfig({ env: { LOG_FORMAT: 'JSON' } }).log.format).toBe('json');
    expect(() => loadConfig({ env: { LOG_FORMAT: 'xml' } })).toThrow(/log.format/);
  });
});
