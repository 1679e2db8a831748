/**
 * Keeps the head and the tail of a stream of unknown length in bounded memory: a command printing 50 MB
 * costs `keepBytes` twice, not 50 MB. The middle is counted, not kept.
 */
export class OutputCapture {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Every byte the stream produced. */
  totalBytes = 0;

  constructor(private readonly keepBytes: number) {}

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.keepBytes) {
      const taken = rest.subarray(0, this.keepBytes - this.headBytes);
      this.head.push(taken);
      this.headBytes += taken.length;
      rest = rest.subarray(taken.length);
    }
    if (rest.length === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Compact now and then, not per chunk: the tail keeps the last keepBytes only.
    if (this.tailBytes > this.keepBytes * 2) this.compactTail();
  }

  /** The text, cut in the middle to at most `maxChars` (head and tail halves) when it is longer. */
  text(maxChars: number): { text: string; truncated: boolean } {
    this.compactTail();
    const head = Buffer.concat(this.head).toString('utf8');
    const tail = Buffer.concat(this.tail).toString('utf8');
    const whole = this.totalBytes === this.headBytes + this.tailBytes;
    if (whole && head.length + tail.length <= maxChars) return { text: head + tail, truncated: false };
    const half = Math.max(0, Math.floor(maxChars / 2) - 40);
    const omitted = this.totalBytes - Math.min(half, head.length) - Math.min(half, tail.length);
    const marker = `\n[… ${omitted} bytes cut …]\n`;
    return {
      text: head.slice(0, half) + marker + tail.slice(Math.max(0, tail.length - half)),
      truncated: true,
    };
  }

  private compactTail(): void {
    if (this.tailBytes <= this.keepBytes) return;
    const joined = Buffer.concat(this.tail);
    const kept = joined.subarray(joined.length - this.keepBytes);
    this.tail = [kept];
    this.tailBytes = kept.length;
  }
}
