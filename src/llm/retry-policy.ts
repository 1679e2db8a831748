/**
 * When a model call is retried and how long to wait, as data and pure functions so the rules can be
 * table-tested without a server. A chat completion has no side effect on the endpoint, so replaying a
 * whole request is safe; what is not retried is what would fail the same way again (a bad request, a
 * bad key) and what the caller asked to stop.
 */

/** One failed attempt, already sorted by what went wrong. */
export type AttemptFailure =
  | { kind: 'http'; status: number; headers?: HeaderSource }
  /** The connection failed or broke before a complete answer arrived. */
  | { kind: 'connection' }
  /** Our per-attempt `call_timeout_s` ran out. */
  | { kind: 'timeout' }
  /** The caller aborted through its signal. */
  | { kind: 'aborted' }
  /** The endpoint answered 200 with a body that is not a chat completion (not JSON, or the wrong shape). */
  | { kind: 'invalid_response' };

/** Response headers as the SDK (`Headers`) or a plain object carries them. */
export type HeaderSource = { get(name: string): string | null } | Record<string, string | undefined>;

export interface RetryPolicy {
  /** Retries after the first attempt; 0 means one attempt only. */
  maxRetries: number;
  /** Backoff before retry n is up to `baseDelayMs * 2^n`, in milliseconds. */
  baseDelayMs: number;
  /** Upper bound of a computed backoff, in milliseconds. */
  maxDelayMs: number;
  /**
   * Upper bound of a server's `retry-after` hint, in milliseconds (default 60 000). A server asking for
   * longer is honoured only this far: a chat turn that sleeps for minutes is worse than one that fails
   * and says why.
   */
  retryAfterCapMs: number;
}

const defaultRetryAfterCapMs = 60_000;

/** The policy of the `models` config group. */
export function retryPolicyFromConfig(models: {
  max_retries: number;
  retry_base_delay_ms: number;
  retry_max_delay_ms: number;
}): RetryPolicy {
  return {
    maxRetries: models.max_retries,
    baseDelayMs: models.retry_base_delay_ms,
    maxDelayMs: models.retry_max_delay_ms,
    retryAfterCapMs: defaultRetryAfterCapMs,
  };
}

/**
 * 408 (request timeout), 409 (lock conflict), 429 (rate limit) and 5xx are worth another try; other
 * 4xx (400, 401, 403, 404, 422…) would be answered the same way again.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

export function isRetryableFailure(failure: AttemptFailure): boolean {
  switch (failure.kind) {
    case 'http':
      return isRetryableStatus(failure.status);
    // A garbled 200 is nearly always a proxy or a cut connection, not the model: worth another try.
    case 'connection':
    case 'timeout':
    case 'invalid_response':
      return true;
    case 'aborted':
      return false;
  }
}

function readHeader(headers: HeaderSource, name: string): string | undefined {
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const record = headers as Record<string, string | undefined>;
  const found = Object.keys(record).find((key) => key.toLowerCase() === name);
  return found === undefined ? undefined : record[found];
}

/**
 * The wait a server asked for, in milliseconds, uncapped: `retry-after-ms` (OpenAI's, milliseconds)
 * wins over `retry-after` (seconds, or an HTTP date). Undefined when absent or unreadable.
 */
export function parseRetryAfterMs(headers: HeaderSource | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const milliseconds = readHeader(headers, 'retry-after-ms');
  if (milliseconds !== undefined && milliseconds.trim() !== '') {
    const value = Number(milliseconds);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = readHeader(headers, 'retry-after')?.trim();
  if (!retryAfter) return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Number(retryAfter) * 1000;
  // Only an HTTP date (it names a weekday and month); Date.parse alone would take "-5" as a year.
  if (!/[a-z]/i.test(retryAfter)) return undefined;
  const date = Date.parse(retryAfter);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Full-jitter exponential backoff: uniform in [0, min(maxDelayMs, baseDelayMs * 2^attempt)). */
export function backoffDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export type RetryDecision =
  | { retry: false }
  /** `serverAsked` says the delay came from a `retry-after` header rather than backoff. */
  | { retry: true; delayMs: number; serverAsked: boolean };

/**
 * Whether to retry after the failure of attempt `attempt` (0 for the first), and how long to wait. A
 * `retry-after` hint replaces the backoff, capped at `retryAfterCapMs`.
 */
export function decideRetry(
  failure: AttemptFailure,
  attempt: number,
  policy: RetryPolicy,
  options: { random?: () => number; now?: number } = {},
): RetryDecision {
  if (!isRetryableFailure(failure) || attempt >= policy.maxRetries) return { retry: false };
  const serverDelay = failure.kind === 'http' ? parseRetryAfterMs(failure.headers, options.now) : undefined;
  if (serverDelay !== undefined) {
    return { retry: true, delayMs: Math.min(serverDelay, policy.retryAfterCapMs), serverAsked: true };
  }
  return { retry: true, delayMs: backoffDelayMs(attempt, policy, options.random), serverAsked: false };
}
