/**
 * Natural batching for the hot path: items pushed while a flush is in flight wait and go out
 * together in the next one, so at low load every item is flushed at once (one round trip, no
 * added delay) and under load one round trip carries many. `run` answers one result per item,
 * in order; if it throws, every item of that batch fails with the error.
 */
export class Batcher<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxBatch: number; maxInFlight: number },
  ) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Items waiting for a flush slot (for metrics and tests). */
  get waiting(): number {
    return this.queue.length;
  }

  private pump(): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || !this.queue.length) return;
    this.scheduled = true;
    // Whatever else this turn of the event loop pushes (other requests' callbacks) joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.opts.maxInFlight && this.queue.length) void this.flush(this.queue.splice(0, this.opts.maxBatch));
    });
  }

  private async flush(batch: Batcher<I, O>['queue']): Promise<void> {
    this.inFlight++;
    try {
      const out = await this.run(batch.map((b) => b.item));
      if (out.length !== batch.length) throw new Error(`batch of ${batch.length} answered ${out.length} results`);
      batch.forEach((b, i) => b.resolve(out[i]));
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }
}
