import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { maxTimerMs } from '../../src/config/schema.ts';
import { estimatedTokenBits } from '../../src/config/token-entropy.ts';
import { isBatonError } from '../../src/errors.ts';

/** The config_invalid message of loading `overrides`, or null when it loads. */
function refusal(overrides: Record<string, unknown>): string | null {
  try {
    loadConfig({ env: {}, overrides });
    return null;
  } catch (error) {
    expect(isBatonError(error, 'config_invalid')).toBe(true);
    return (error as Error).message;
  }
}

describe('config bounds', () => {
  // Node fires a timer above 2^31-1 ms at once: child_timeout_s: 3000000 timed a task out after 4 ms.
  it.each([
    ['delegation', 'child_timeout_s', 3_000_000],
    ['delegation', 'tool_timeout_s', 2_200_000],
    ['delegation', 'collect_max_timeout_s', 1e12],
    ['models', 'call_timeout_s', 3_000_000],
    ['models', 'key_cooldown_s', 3_000_000],
    ['worker', 'shutdown_grace_s', 3_000_000],
    ['models', 'retry_max_delay_ms', 2 ** 31],
    ['worker', 'lock_duration_ms', 2 ** 31],
    ['worker', 'stalled_interval_ms', 2 ** 31],
    ['worker', 'start_rate_window_ms', 2 ** 31],
    ['gateway', 'board_interval_ms', 2 ** 31],
  ])('refuses %s.%s = %d, longer than the longest timer', (group, key, value) => {
    const message = refusal({ [group]: { [key]: value } });
    expect(message).toContain(`${group}.${key}`);
    expect(message).toMatch(/24\.8 days/);
  });

  it('accepts durations up to the timer limit', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        delegation: { child_timeout_s: Math.floor(maxTimerMs / 1000), collect_max_timeout_s: 2_000_000 },
        worker: { lock_duration_ms: maxTimerMs },
      },
    });
    expect(config.delegation.child_timeout_s * 1000).toBeLessThanOrEqual(maxTimerMs);
    expect(config.worker.lock_duration_ms).toBe(maxTimerMs);
  });

  // Math.round(0.000001 * 86400) is 0: EXPIRE 0 deletes a key at once.
  it('refuses a retention shorter than a minute, which would expire records at once', () => {
    expect(refusal({ redis: { retention_days: 0.000001 } })).toMatch(
      /redis\.retention_days: at least 1\/1440/,
    );
    expect(refusal({ redis: { retention_days: 0.0005 } })).toMatch(/redis\.retention_days/);
    expect(refusal({ redis: { retention_days: 1 / 1440 } })).toBeNull();
  });

  it('refuses a console token of sixteen spaces', () => {
    expect(refusal({ console: { token: ' '.repeat(16) } })).toMatch(/console\.token: no spaces/);
  });

  it.each([
    ['one character repeated', 'a'.repeat(40)],
    ['two characters alternating', 'ab'.repeat(20)],
    ['a short word', 'password'],
    ['a keyboard walk', '1234567812345678'],
  ])('refuses a guessable console token: %s', (_name, token) => {
    expect(refusal({ console: { token } })).toMatch(/console\.token/);
  });

  it('accepts a random console token', () => {
    const token = 'f3a9c2d17be04e5a8c6b9d0e1f2a3b4c';
    expect(estimatedTokenBits(token)).toBeGreaterThanOrEqual(64);
    expect(refusal({ console: { token, host: '0.0.0.0' } })).toBeNull();
    expect(refusal({ console: { token: 'console-test-token-0123456789' } })).toBeNull();
  });

  // The compose file's config takes the token from the environment: the error must say which variable to set.
  it.each([
    ['unset', {}],
    ['too short', { BATON_CONSOLE_TOKEN: 'short' }],
  ])('names BATON_CONSOLE_TOKEN when the Docker config has no usable token (%s)', (_name, tokenEnv) => {
    const dockerConfig = fileURLToPath(new URL('../../config/docker.yaml', import.meta.url));
    let message = '';
    try {
      loadConfig({ env: { BATON_CONFIG: dockerConfig, ...tokenEnv } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/console\.token \(set from \$\{BATON_CONSOLE_TOKEN\}\): /);
  });
});
