/**
 * Gathers the calls made during one turn of the event loop and runs them together, as one Redis script
 * (a group commit). A busy worker finishes many children in the same turn — BullMQ hands it jobs in bursts,
 * and ioredis delivers the replies of a burst together — so one script run for all of them spares Redis a
 * script call and a network round trip per task, and lets the script share what the tasks have in common
 * (a usage hash, a set they all leave). A lone call waits for nothing but the end of the current turn.
 */
export class TickBatcher<Item, Result> {
  private pending: Array<{
    item: Item;
    resolve: (result: Result) => void;
    reject: (error: unknown) => void;
  }> = [];
  private flushScheduled = false;

  /**
   * @param runBatch runs the items as one batch and answers one result per item, in their order; if it
   *   throws, every call of the batch rejects with that error.
   * @param maxBatchSize a batch this large runs at once, without waiting for the end of the turn: it keeps
   *   one script run (which blocks Redis while it runs) short.
   */
  constructor(
    private readonly runBatch: (items: Item[]) => Promise<Result[]>,
    private readonly maxBatchSize: number,
  ) {}

  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatchSize) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.runBatch(batch.map((call) => call.item)).then(
      (results) => {
        for (const [index, call] of batch.entries()) call.resolve(results[index]!);
      },
      (error: unknown) => {
        for (const call of batch) call.reject(error);
      },
    );
  }
}
