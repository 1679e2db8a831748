import { describe, expect, it } from 'vitest';
import {
  type AttemptFailure,
  backoffDelayMs,
  decideRetry,
  isRetryableFailure,
  isRetryableStatus,
  parseRetryAfterMs,
  type RetryPolicy,
  retryPolicyFromConfig,
} from '../../src/llm/retry-policy.ts';

const policy: RetryPolicy = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 1000, retryAfterCapMs: 60_000 };
const now = Date.parse('2030-01-01T00:00:00Z');

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [409, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [422, false],
  ])('%i → %s', (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected);
  });
});

describe('isRetryableFailure', () => {
  it.each<[AttemptFailure, boolean]>([
    [{ kind: 'connection' }, true],
    [{ kind: 'timeout' }, true],
    [{ kind: 'aborted' }, false],
    [{ kind: 'invalid_response' }, true],
    [{ kind: 'http', status: 429 }, true],
    [{ kind: 'http', status: 400 }, false],
  ])('%o → %s', (failure, expected) => {
    expect(isRetryableFailure(failure)).toBe(expected);
  });
});

describe('parseRetryAfterMs', () => {
  it.each<[string, Record<string, string> | undefined, number | undefined]>([
    ['no headers', undefined, undefined],
    ['neither header', { 'x-other': '1' }, undefined],
    ['retry-after-ms', { 'retry-after-ms': '250' }, 250],
    ['fractional retry-after-ms', { 'retry-after-ms': '12.5' }, 12.5],
    ['retry-after seconds', { 'retry-after': '2' }, 2000],
    ['retry-after fractional seconds', { 'retry-after': '0.5' }, 500],
    ['retry-after-ms wins over retry-after', { 'retry-after-ms': '40', 'retry-after': '9' }, 40],
    ['unreadable retry-after-ms falls back', { 'retry-after-ms': 'soon', 'retry-after': '3' }, 3000],
    ['HTTP date in the future', { 'retry-after': 'Tue, 01 Jan 2030 00:00:05 GMT' }, 5000],
    ['HTTP date in the past', { 'retry-after': 'Mon, 31 Dec 2029 23:59:00 GMT' }, 0],
    ['garbage', { 'retry-after': 'later please' }, undefined],
    ['negative', { 'retry-after': '-5' }, undefined],
    ['header names are case-insensitive', { 'Retry-After': '1' }, 1000],
  ])('%s', (_label, headers, expected) => {
    expect(parseRetryAfterMs(headers, now)).toBe(expected);
  });

  it('reads a fetch Headers object', () => {
    expect(parseRetryAfterMs(new Headers({ 'retry-after-ms': '75' }), now)).toBe(75);
  });
});

describe('backoffDelayMs', () => {
  it.each([
    // attempt, random, expected: floor(random * min(max, base * 2^attempt))
    [0, 0.5, 50],
    [1, 0.5, 100],
    [2, 0.5, 200],
    [3, 0.999, 799],
    [4, 0.5, 500], // 1600 capped at 1000
    [10, 0.999, 999],
    [2, 0, 0], // full jitter reaches zero
  ])('attempt %i with random %f → %i ms', (attempt, random, expected) => {
    expect(backoffDelayMs(attempt, policy, () => random)).toBe(expected);
  });
});

describe('decideRetry', () => {
  const half = () => 0.5;

  it.each<[string, AttemptFailure, number, ReturnType<typeof decideRetry>]>([
    ['500 backs off', { kind: 'http', status: 500 }, 0, { retry: true, delayMs: 50, serverAsked: false }],
    [
      'connection error backs off',
      { kind: 'connection' },
      1,
      { retry: true, delayMs: 100, serverAsked: false },
    ],
    ['our time-out backs off', { kind: 'timeout' }, 2, { retry: true, delayMs: 200, serverAsked: false }],
    [
      '429 with retry-after-ms waits as asked',
      { kind: 'http', status: 429, headers: { 'retry-after-ms': '1500' } },
      0,
      { retry: true, delayMs: 1500, serverAsked: true },
    ],
    [
      'retry-after beyond the cap is capped at 60 s',
      { kind: 'http', status: 503, headers: { 'retry-after': '3600' } },
      0,
      { retry: true, delayMs: 60_000, serverAsked: true },
    ],
    [
      '429 without a hint backs off',
      { kind: 'http', status: 429 },
      0,
      { retry: true, delayMs: 50, serverAsked: false },
    ],
    ['400 is final', { kind: 'http', status: 400 }, 0, { retry: false }],
    ['401 is final', { kind: 'http', status: 401 }, 0, { retry: false }],
    ['404 is final', { kind: 'http', status: 404 }, 0, { retry: false }],
    ['422 is final', { kind: 'http', status: 422 }, 0, { retry: false }],
    ['the caller abort is final', { kind: 'aborted' }, 0, { retry: false }],
    [
      'a malformed answer backs off',
      { kind: 'invalid_response' },
      0,
      { retry: true, delayMs: 50, serverAsked: false },
    ],
    ['retries run out', { kind: 'http', status: 500 }, 3, { retry: false }],
    [
      'retry-after does not outlast the retry budget',
      { kind: 'http', status: 429, headers: { 'retry-after': '1' } },
      3,
      { retry: false },
    ],
  ])('%s', (_label, failure, attempt, expected) => {
    expect(decideRetry(failure, attempt, policy, { random: half, now })).toEqual(expected);
  });

  it('never retries when max_retries is 0', () => {
    expect(decideRetry({ kind: 'connection' }, 0, { ...policy, maxRetries: 0 })).toEqual({ retry: false });
  });
});

describe('retryPolicyFromConfig', () => {
  it('maps the models config group', () => {
    expect(
      retryPolicyFromConfig({ max_retries: 4, retry_base_delay_ms: 500, retry_max_delay_ms: 30_000 }),
    ).toEqual({ maxRetries: 4, baseDelayMs: 500, maxDelayMs: 30_000, retryAfterCapMs: 60_000 });
  });
});
