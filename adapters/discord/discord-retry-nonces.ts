import { createHash, randomBytes } from 'node:crypto';

/** How long Discord de-duplicates a nonce sent with `enforce_nonce` ("a few minutes"); stay inside it. */
const nonceWindowMs = 4 * 60_000;

/**
 * Nonces for message creates. A post that failed in a way that may have landed (5xx, timeout) is retried
 * by the delivery layer with the same thread and body; it gets the nonce of the failed attempt back, so
 * Discord answers with the message it already made instead of posting it twice. A post that succeeded
 * leaves nothing behind, so a later, identical message is a new message. Kept in this process only; posts
 * that carry the gateway's idempotency key use `nonceFor` instead, which every process derives alike.
 */
export class RetryNonces {
  private readonly failed = new Map<string, { nonce: string; at: number }>();

  /** The nonce for this attempt: the failed attempt's, if this repeats one, else a new one. */
  take(key: string, now = Date.now()): string {
    const earlier = this.failed.get(key);
    // Taken, not shared: two identical posts in flight at once must stay two messages.
    this.failed.delete(key);
    if (earlier && now - earlier.at < nonceWindowMs) return earlier.nonce;
    return randomBytes(12).toString('base64url');
  }

  /** Remembers the nonce of an attempt that may have landed, for the retry. */
  rememberFailure(key: string, nonce: string, now = Date.now()): void {
    this.failed.set(key, { nonce, at: now });
    for (const [candidate, entry] of this.failed) {
      if (now - entry.at >= nonceWindowMs) this.failed.delete(candidate);
    }
  }
}

/** The identity of a post: where it goes and exactly what it says. */
export function postKey(channelId: string, body: unknown): string {
  return createHash('sha256').update(channelId).update('\0').update(JSON.stringify(body)).digest('base64url');
}

/** A Discord nonce (at most 25 characters) derived from an idempotency key: the same in every process. */
export function nonceFor(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 25);
}
