import { EventBus, backoffMs } from './bus';
import { AnyEnvelope, createEnvelope } from './envelope';
import { EventData, EventType } from './catalogue';

/** What the outbox needs from a database client: Prisma's client and its transactions fit. */
export interface SqlClient {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}
export interface SqlDatabase extends SqlClient {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  $transaction<R>(fn: (tx: any) => Promise<R>, options?: { timeout?: number; maxWait?: number }): Promise<R>;
}

/**
 * The SQL every service's first migration includes (and its schema.prisma mirrors as the
 * OutboxEvent and ProcessedEvent models), so the outbox and consumer dedup live in the
 * same database, and therefore the same transaction, as the state they describe.
 */
export const OUTBOX_MIGRATION_SQL = `
CREATE TABLE "outbox_events" (
    "seq" BIGSERIAL NOT NULL,
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "envelope" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3),
    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("seq")
);
CREATE UNIQUE INDEX "outbox_events_id_key" ON "outbox_events"("id");
CREATE INDEX "outbox_events_published_at_seq_idx" ON "outbox_events"("published_at", "seq");

CREATE TABLE "processed_events" (
    "event_id" UUID NOT NULL,
    "consumer" TEXT NOT NULL,
    "processed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "processed_events_pkey" PRIMARY KEY ("event_id","consumer")
);
`;

export interface OutboxLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OutboxOptions {
  source: string;
  db: SqlDatabase;
  bus: EventBus;
  log?: OutboxLogger;
  pollMs?: number;
  batchSize?: number;
  onPublished?: (events: AnyEnvelope[]) => void;
  onPending?: (n: number) => void;
}

/**
 * Transactional outbox. `stage` writes an event inside the caller's transaction; the relay
 * publishes committed rows in order and marks them. A crash between publish and mark
 * republishes: delivery is at-least-once, which consumers absorb by event id.
 */
export class Outbox {
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = true;
  private failures = 0;
  private kicked = false;
  private inflight?: Promise<number>;
  readonly pollMs: number;
  readonly batchSize: number;

  constructor(private opts: OutboxOptions) {
    this.pollMs = opts.pollMs ?? 50;
    this.batchSize = opts.batchSize ?? 200;
  }

  /** Writes an event in the given transaction; it is published only if that commits. */
  async stage<T extends EventType>(tx: SqlClient, type: T, subject: string, data: EventData<T>): Promise<AnyEnvelope> {
    const e = createEnvelope(this.opts.source, type, subject, data) as AnyEnvelope;
    await tx.$executeRawUnsafe(
      'INSERT INTO "outbox_events" ("id", "type", "subject", "envelope") VALUES ($1::uuid, $2, $3, $4::jsonb)',
      e.id,
      e.type,
      e.subject,
      JSON.stringify(e),
    );
    this.kick();
    return e;
  }

  /** Ask the relay to look now rather than at the next poll (e.g. right after a commit). */
  kick(): void {
    if (this.stopped) return;
    this.kicked = true;
    if (!this.running) this.schedule(2);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), ms);
    this.timer.unref?.();
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    let next = this.pollMs;
    try {
      this.kicked = false;
      this.inflight = this.publishBatch();
      const n = await this.inflight;
      this.failures = 0;
      if (n === this.batchSize || this.kicked) next = 0;
    } catch (err) {
      this.failures++;
      next = backoffMs(this.failures, this.pollMs, 5_000);
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.opts.log?.warn({ err: String(err), failures: this.failures }, 'outbox relay cannot publish; events stay in the outbox');
      }
    } finally {
      this.inflight = undefined;
      this.running = false;
    }
    if (!this.stopped) this.schedule(next);
  }

  /** Publishes one batch; answers how many events went out. */
  async publishBatch(): Promise<number> {
    return this.opts.db.$transaction(
      async (tx: SqlClient) => {
        const rows = await tx.$queryRawUnsafe<{ seq: bigint; envelope: AnyEnvelope }[]>(
          'SELECT "seq", "envelope" FROM "outbox_events" WHERE "published_at" IS NULL ORDER BY "seq" LIMIT $1 FOR UPDATE SKIP LOCKED',
          this.batchSize,
        );
        if (!rows.length) {
          this.opts.onPending?.(0);
          return 0;
        }
        const events = rows.map((r) => (typeof r.envelope === 'string' ? JSON.parse(r.envelope) : r.envelope) as AnyEnvelope);
        await this.opts.bus.publish(events);
        await tx.$executeRawUnsafe(
          'UPDATE "outbox_events" SET "published_at" = CURRENT_TIMESTAMP WHERE "seq" = ANY($1::bigint[])',
          rows.map((r) => r.seq.toString()),
        );
        this.opts.onPublished?.(events);
        return rows.length;
      },
      { timeout: 20_000, maxWait: 5_000 },
    );
  }

  async pendingCount(): Promise<number> {
    const rows = await this.opts.db.$queryRawUnsafe<{ n: bigint }[]>('SELECT count(*)::bigint AS n FROM "outbox_events" WHERE "published_at" IS NULL');
    return Number(rows[0]?.n ?? 0);
  }

  /** Stops polling after publishing what is committed, within a deadline (graceful shutdown). */
  async stop(deadlineMs = 5_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const until = Date.now() + deadlineMs;
    await this.inflight?.catch(() => 0);
    while (Date.now() < until) {
      try {
        if ((await this.publishBatch()) === 0) break;
      } catch {
        break; // bus down: the rows stay and the next start publishes them
      }
    }
  }
}

/**
 * Wraps a handler so each event is applied once per consumer: the event id is recorded in
 * the same transaction as the handler's writes, so a redelivery finds it and does nothing.
 */
export function idempotentHandler<E extends AnyEnvelope = AnyEnvelope>(
  db: SqlDatabase,
  consumer: string,
  fn: (event: E, tx: SqlClient) => Promise<void>,
  hooks: { onOutcome?: (type: string, outcome: 'processed' | 'duplicate') => void } = {},
): (event: AnyEnvelope) => Promise<void> {
  return async (event) => {
    await db.$transaction(
      async (tx: SqlClient) => {
        const inserted = await tx.$executeRawUnsafe(
          'INSERT INTO "processed_events" ("event_id", "consumer") VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING',
          event.id,
          consumer,
        );
        if (inserted === 0) {
          hooks.onOutcome?.(event.type, 'duplicate');
          return;
        }
        await fn(event as E, tx);
        hooks.onOutcome?.(event.type, 'processed');
      },
      { timeout: 20_000, maxWait: 10_000 },
    );
  };
}
