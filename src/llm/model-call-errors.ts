import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError, describeError } from '../errors.ts';
import { redactSecrets } from '../logging/redact-secrets.ts';
import { untilAborted as untilSignalAborts } from '../until-aborted.ts';
import type { AttemptFailure } from './retry-policy.ts';

/**
 * The BatonErrors a model call ends with: the last attempt's failure once the retry policy gives up, or
 * `aborted` as soon as the caller's signal fires, also while the call waits between attempts.
 */

/** The route a call went to, for the messages. */
export interface FailedRoute {
  name: string;
  config: { model: string };
}

/** The error a call ends with once the retry policy gives up on `failure` (`error` is what was thrown). */
export function finalError(
  failure: AttemptFailure,
  error: unknown,
  route: FailedRoute,
  attempts: number,
  callTimeoutS: number,
): BatonError {
  const where = `model route "${route.name}" (${route.config.model})`;
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  switch (failure.kind) {
    case 'aborted':
      return abortedError();
    case 'timeout':
      return new BatonError(
        'model_timeout',
        `${where} timed out: no answer within ${callTimeoutS} s (${tries})`,
        {
          fault: 'platform',
          cause: error,
        },
      );
    case 'http': {
      const code = failure.status === 429 ? 'model_rate_limited' : 'model_request_failed';
      // The SDK's message is "<status> <server's message>"; servers sometimes quote part of the key.
      return new BatonError(code, redactSecrets(`${where} failed after ${tries}: ${describeError(error)}`), {
        fault: 'platform',
        cause: error,
      });
    }
    case 'connection':
      return new BatonError(
        'model_request_failed',
        redactSecrets(`${where} could not be reached after ${tries}: ${describeError(error)}`),
        { fault: 'platform', cause: error },
      );
    case 'invalid_response':
      return new BatonError(
        'model_request_failed',
        redactSecrets(`${where} answered with a malformed response (${tries}): ${describeError(error)}`),
        { fault: 'platform', cause: error },
      );
  }
}

function abortedError(): BatonError {
  return new BatonError('aborted', 'the model call was aborted', { fault: 'user' });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError();
}

export async function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw abortedError();
    throw error;
  }
}

/** Settles with `promise`, or rejects with `aborted` as soon as `signal` aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(signal);
  return untilSignalAborts(promise, signal, abortedError);
}
