import { Client } from 'pg';
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

const CHANNEL = 'platform_outbox';
const STAGE_SQL = 'INSERT INTO "outbox_events" ("id", "type", "subject", "envelope") VALUES ($1::uuid, $2, $3, $4::jsonb)';
/** One statement: the row, and a notification PostgreSQL delivers only if the transaction commits. */
const STAGE_AND_NOTIFY_SQL = `WITH "staged" AS (${STAGE_SQL} RETURNING 1) SELECT pg_notify('${CHANNEL}', '')::text FROM "staged"`;
const NOTIFY_SQL = `SELECT pg_notify('${CHANNEL}', '')::text`;

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
  /**
   * A PostgreSQL URL to LISTEN on: every stage then also NOTIFYs (delivered at commit), so the
   * relay publishes as soon as a transaction commits, in this process or another replica's,
   * and polls only every `listenPollMs` as a safety net. Without it, a relay polls every `pollMs`.
   */
  listenUrl?: string;
  listenPollMs?: number;
  /** After being told of a commit, wait this long for more before publishing (default 0). */
  lingerMs?: number;
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
  /** A run is scheduled within the linger already: later kicks join it rather than push it back. */
  private timerDue = false;
  private inflight?: Promise<number>;
  private readonly basePollMs: number;
  readonly batchSize: number;
  private listener?: Client;
  private relayClient?: Client;
  private listening = false;
  private listenRetry?: NodeJS.Timeout;

  constructor(private opts: OutboxOptions) {
    this.basePollMs = opts.pollMs ?? 50;
    this.batchSize = opts.batchSize ?? 200;
  }

  /** How often the relay looks without being told: rarely while it is LISTENing, else `pollMs`. */
  get pollMs(): number {
    return this.listening ? Math.max(this.basePollMs, this.opts.listenPollMs ?? 1_000) : this.basePollMs;
  }

  /** Writes an event in the given transaction; it is published only if that commits. */
  async stage<T extends EventType>(tx: SqlClient, type: T, subject: string, data: EventData<T>): Promise<AnyEnvelope> {
    const e = createEnvelope(this.opts.source, type, subject, data) as AnyEnvelope;
    await tx.$executeRawUnsafe(this.opts.listenUrl ? STAGE_AND_NOTIFY_SQL : STAGE_SQL, e.id, e.type, e.subject, JSON.stringify(e));
    // A listening relay hears of the commit; otherwise look soon (the commit is usually a few ms away).
    if (!this.listening) this.kick();
    return e;
  }

  /**
   * Events the caller writes itself (several rows in one statement, say): the SQL to append to
   * its transaction so the relay hears of the commit, or null when nobody listens.
   */
  get notifySql(): string | null {
    return this.opts.listenUrl ? NOTIFY_SQL : null;
  }

  /** Ask the relay to look now rather than at the next poll (e.g. right after a commit). */
  kick(): void {
    if (this.stopped) return;
    this.kicked = true;
    if (!this.running && !this.timerDue) this.schedule(Math.max(2, this.opts.lingerMs ?? 0));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
    if (this.opts.listenUrl) void this.listen();
  }

  /** LISTENs for commits of staged events; on a lost connection it polls fast again and reconnects. */
  private async listen(attempt = 0): Promise<void> {
    if (this.stopped || !this.opts.listenUrl) return;
    const client = new Client({ connectionString: this.opts.listenUrl, connectionTimeoutMillis: 5_000 });
    this.listener = client;
    const retry = () => {
      if (this.listener !== client) return;
      this.listening = false;
      this.listener = undefined;
      void client.end().catch(() => undefined);
      if (this.stopped) return;
      this.listenRetry = setTimeout(() => void this.listen(attempt + 1), backoffMs(attempt, 250, 10_000));
      this.listenRetry.unref?.();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', () => this.kick());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.listener !== client) return void client.end().catch(() => undefined);
      this.listening = true;
      attempt = 0;
      // Anything committed while nobody listened.
      this.kick();
    } catch (err) {
      if (attempt === 0 || attempt % 20 === 0) this.opts.log?.warn({ err: String(err) }, 'outbox relay cannot LISTEN; polling meanwhile');
      retry();
    }
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = ms <= (this.opts.lingerMs ?? 0) ? true : false;
    this.timer = setTimeout(() => {
      this.timerDue = false;
      void this.loop();
    }, ms);
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
      // A full batch: more are waiting, go on at once. Told of more commits meanwhile: let them gather.
      if (n === this.batchSize) next = 0;
      else if (this.kicked) next = this.opts.lingerMs ?? 0;
    } catch (err) {
      this.failures++;
      next = backoffMs(this.failures, this.basePollMs, 5_000);
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
    if (this.opts.listenUrl) return this.publishBatchPg(this.opts.listenUrl);
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

  /**
   * The same transaction on the relay's own plain `pg` connection: the relay runs on every
   * commit, and four statements through Prisma cost several times the CPU of the same four here.
   */
  private async publishBatchPg(url: string): Promise<number> {
    let client = this.relayClient;
    if (!client) {
      client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
      client.on('error', () => {
        if (this.relayClient === client) this.relayClient = undefined;
      });
      await client.connect();
      this.relayClient = client;
    }
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ seq: string; envelope: AnyEnvelope | string }>(
        'SELECT "seq"::text AS "seq", "envelope" FROM "outbox_events" WHERE "published_at" IS NULL ORDER BY "seq" LIMIT $1 FOR UPDATE SKIP LOCKED',
        [this.batchSize],
      );
      if (!rows.length) {
        await client.query('COMMIT');
        this.opts.onPending?.(0);
        return 0;
      }
      const events = rows.map((r) => (typeof r.envelope === 'string' ? JSON.parse(r.envelope) : r.envelope) as AnyEnvelope);
      await this.opts.bus.publish(events);
      await client.query('UPDATE "outbox_events" SET "published_at" = CURRENT_TIMESTAMP WHERE "seq" = ANY($1::bigint[])', [rows.map((r) => r.seq)]);
      await client.query('COMMIT');
      this.opts.onPublished?.(events);
      return rows.length;
    } catch (err) {
      // Rolled back (the rows stay unpublished), or the connection is gone: a new one next time.
      await client.query('ROLLBACK').catch(() => {
        if (this.relayClient === client) this.relayClient = undefined;
        void client.end().catch(() => undefined);
      });
      throw err;
    }
  }

  async pendingCount(): Promise<number> {
    const rows = await this.opts.db.$queryRawUnsafe<{ n: bigint }[]>('SELECT count(*)::bigint AS n FROM "outbox_events" WHERE "published_at" IS NULL');
    return Number(rows[0]?.n ?? 0);
  }

  /** Stops polling after publishing what is committed, within a deadline (graceful shutdown). */
  async stop(deadlineMs = 5_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.listenRetry) clearTimeout(this.listenRetry);
    const listener = this.listener;
    this.listener = undefined;
    this.listening = false;
    await listener?.end().catch(() => undefined);
    const until = Date.now() + deadlineMs;
    await this.inflight?.catch(() => 0);
    while (Date.now() < until) {
      try {
        if ((await this.publishBatch()) === 0) break;
      } catch {
        break; // bus down: the rows stay and the next start publishes them
      }
    }
    const relay = this.relayClient;
    this.relayClient = undefined;
    await relay?.end().catch(() => undefined);
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

/**
 * idempotentHandler for several events at once: ONE transaction records all their ids and
 * applies, in order, those not seen before. If it fails, each event is retried alone through
 * `single` (the per-event handler), so one bad event cannot hold back the others' commit.
 */
export function idempotentBatchHandler<E extends AnyEnvelope = AnyEnvelope>(
  db: SqlDatabase,
  consumer: string,
  fn: (event: E, tx: SqlClient) => Promise<void>,
  single: (event: AnyEnvelope) => Promise<void>,
  hooks: {
    onOutcome?: (type: string, outcome: 'processed' | 'duplicate') => void;
    /** Applies all the fresh events at once (in order) instead of `fn` on each. */
    many?: (events: E[], tx: SqlClient) => Promise<void>;
  } = {},
): (events: AnyEnvelope[]) => Promise<void> {
  return async (events) => {
    if (events.length === 1) return single(events[0]);
    const outcomes: [string, 'processed' | 'duplicate'][] = [];
    try {
      await db.$transaction(
        async (tx: SqlClient) => {
          outcomes.length = 0;
          const fresh = await tx.$queryRawUnsafe<{ event_id: string }[]>(
            'INSERT INTO "processed_events" ("event_id", "consumer") SELECT DISTINCT unnest($1::uuid[]), $2 ON CONFLICT DO NOTHING RETURNING "event_id"::text AS "event_id"',
            events.map((e) => e.id),
            consumer,
          );
          const todo = new Set(fresh.map((r) => r.event_id));
          const apply: E[] = [];
          for (const e of events) {
            if (!todo.delete(e.id)) {
              outcomes.push([e.type, 'duplicate']);
              continue;
            }
            if (hooks.many) apply.push(e as E);
            else await fn(e as E, tx);
            outcomes.push([e.type, 'processed']);
          }
          if (hooks.many && apply.length) await hooks.many(apply, tx);
        },
        { timeout: 30_000, maxWait: 10_000 },
      );
    } catch {
      for (const e of events) await single(e);
      return;
    }
    for (const [type, outcome] of outcomes) hooks.onOutcome?.(type, outcome);
  };
}
