/**
 * Collects calls made in the same turn of the event loop and runs them as one
 * batch: one Redis script call for many message ids instead of one each.
 */
export class Batcher<In, Out> {
  private items: In[] = [];
  private waiters: { resolve(v: Out): void; reject(e: unknown): void }[] = [];
  private scheduled = false;

  constructor(
    /** Runs a batch; returns one result per item, in order (an Error rejects that item only). */
    private readonly run: (items: In[]) => Promise<(Out | Error)[]>,
    private readonly maxBatch = 256,
  ) {}

  push(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.run(items).then(
      (results) => results.forEach((r, i) => (r instanceof Error ? waiters[i]!.reject(r) : waiters[i]!.resolve(r))),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
