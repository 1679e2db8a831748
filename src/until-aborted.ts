/**
 * Settles with `promise`, or rejects as soon as `signal` aborts (with `abortError()`, by default the signal's
 * reason). The promise itself goes on: whoever else waits on it still gets its outcome.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  abortError: () => unknown = () => signal.reason,
): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
