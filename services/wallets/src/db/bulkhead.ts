import { AppError } from '@platform/http';

/**
 * Caps how many ledger transactions run at once, below the connection pool's size, so a
 * burst of debits queues here in order instead of timing out inside Prisma, and the outbox
 * relay, consumers and balance reads keep a connection. Past `maxQueue` waiters it sheds
 * load with a 503 the caller can retry with the same idempotency key.
 */
export class Bulkhead {
  private active = 0;
  private waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    else {
      if (this.waiting.length >= this.maxQueue) {
        throw new AppError('UNAVAILABLE', 'Wallets is at capacity; retry with the same idempotency key', undefined, { 'Retry-After': '1' });
      }
      // The releasing caller hands its slot over, so `active` stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  get queued(): number {
    return this.waiting.length;
  }
}
