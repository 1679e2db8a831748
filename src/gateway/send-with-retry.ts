import { PlatformSendError } from './platform-send-error.ts';

const maxAttempts = 5;

/**
 * Retries a platform write only when the platform said it is safe to (rate limited, or refused before
 * processing), waiting as long as it asked. Anything else is thrown at once: blindly retrying a post that
 * may have landed would show it twice.
 */
export async function sendWithRetry<T>(send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof PlatformSendError) || !error.retryable || attempt >= maxAttempts) throw error;
      const delay = error.retryAfterMs ?? Math.min(10_000, 250 * 2 ** attempt);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, delay);
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    }
  }
}
