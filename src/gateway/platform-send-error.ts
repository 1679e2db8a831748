import { BatonError } from '../errors.ts';

/**
 * A failed post or edit on a chat platform. `retryable` and `retryAfterMs` drive the delivery layer,
 * which owns retries (platform clients must not retry writes blindly: a retried post can appear twice).
 */
export class PlatformSendError extends BatonError {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { retryable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(options.retryAfterMs !== undefined ? 'platform_rate_limited' : 'platform_send_failed', message, {
      fault: 'platform',
      cause: options.cause,
    });
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}
