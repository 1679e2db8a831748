import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';

/** Error codes of Node and undici that mean the request never got an answer. */
const networkErrorCodes = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/;

/**
 * A discord.js failure as a PlatformSendError, so the delivery layer decides about retries: rate limits
 * and 5xx / network failures are retryable (a 5xx on a POST may still have landed; message creates
 * carry a nonce with `enforce_nonce`, so Discord itself drops the retried duplicate), other 4xx are not.
 */
export function toPlatformSendError(error: unknown, action: string): PlatformSendError {
  if (error instanceof PlatformSendError) return error;
  if (error instanceof RateLimitError) {
    return new PlatformSendError(`Discord rate-limited ${action}`, {
      retryable: true,
      retryAfterMs: Math.max(0, Math.ceil(error.retryAfter)),
      cause: error,
    });
  }
  if (error instanceof DiscordAPIError) {
    if (error.status === 429) {
      const seconds = Number((error.rawError as { retry_after?: unknown }).retry_after ?? 1);
      return new PlatformSendError(`Discord rate-limited ${action}`, {
        retryable: true,
        retryAfterMs: Math.ceil((Number.isFinite(seconds) ? seconds : 1) * 1000),
        cause: error,
      });
    }
    return new PlatformSendError(
      `Discord refused ${action}: ${error.status} ${error.message} (code ${error.code})`,
      {
        retryable: error.status >= 500,
        cause: error,
      },
    );
  }
  if (error instanceof HTTPError) {
    return new PlatformSendError(`Discord failed ${action}: ${error.status} ${error.message}`, {
      retryable: error.status >= 500 || error.status === 0,
      cause: error,
    });
  }
  if (isNetworkError(error)) {
    return new PlatformSendError(`Discord unreachable while ${action}: ${describe(error)}`, {
      retryable: true,
      cause: error,
    });
  }
  return new PlatformSendError(`${action} failed: ${describe(error)}`, { retryable: false, cause: error });
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // The REST client aborts a request after its timeout; nothing is known about whether it landed.
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && networkErrorCodes.test(code);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
