import { webApi } from '@slack/bolt';
import { PlatformSendError } from '../../src/gateway/platform-send-error.ts';

/** Platform error codes that say "try again later" rather than "this will never work". */
const transientPlatformErrors = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/**
 * Sorts a failed Web API call for the delivery layer, which owns retries (the client is built with no
 * retries and rejects rate-limited calls, so nothing is posted twice behind its back):
 * rate limited → retryable after Retry-After; network failures and 5xx → retryable; Slack's refusals
 * (`invalid_auth`, `channel_not_found`, `not_in_channel`, `msg_too_long`, …) → not retryable.
 * Messages name the method and Slack's code only: never a token or a request body.
 */
export function toPlatformSendError(method: string, error: unknown): PlatformSendError {
  if (error instanceof PlatformSendError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case webApi.ErrorCode.RateLimitedError: {
      const retryAfter = Number((error as { retryAfter?: unknown }).retryAfter);
      const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000;
      return new PlatformSendError(`slack ${method}: rate limited`, {
        retryable: true,
        retryAfterMs,
        cause: error,
      });
    }
    case webApi.ErrorCode.RequestError:
      return new PlatformSendError(`slack ${method}: request failed (${describe(error)})`, {
        retryable: true,
        cause: error,
      });
    case webApi.ErrorCode.HTTPError: {
      const status = Number((error as { statusCode?: unknown }).statusCode);
      return new PlatformSendError(`slack ${method}: HTTP ${status}`, {
        retryable: status >= 500 || status === 408,
        cause: error,
      });
    }
    case webApi.ErrorCode.PlatformError: {
      const slackCode = String((error as { data?: { error?: unknown } }).data?.error ?? 'unknown_error');
      return new PlatformSendError(`slack ${method}: ${slackCode}`, {
        retryable: transientPlatformErrors.has(slackCode),
        cause: error,
      });
    }
    default:
      return new PlatformSendError(`slack ${method}: ${describe(error)}`, { retryable: false, cause: error });
  }
}

/** The platform code of a Web API refusal (`invalid_auth`, …), or undefined for other failures. */
export function slackErrorCode(error: unknown): string | undefined {
  if ((error as { code?: unknown } | null)?.code !== webApi.ErrorCode.PlatformError) return undefined;
  const slackCode = (error as { data?: { error?: unknown } }).data?.error;
  return typeof slackCode === 'string' ? slackCode : undefined;
}

function describe(error: unknown): string {
  const original = (error as { original?: unknown } | null)?.original;
  if (original instanceof Error) return original.message;
  return error instanceof Error ? error.message : String(error);
}
