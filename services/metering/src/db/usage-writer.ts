import type { Pool } from 'pg';
import { prepared } from '@platform/db';
import type { AnyEnvelope, Outbox } from '@platform/events';
import type { Db } from './client';
import type { NewUsage } from './usage.repository';
import { Batcher } from '../support/batcher';

/** A served call billed at its price: its record completes and its service.called event is written, atomically. */
export interface CompletedCall {
  usageId: string;
  statusCode: number;
  latencyMs: number;
  amountMicros: bigint;
  paymentMethod: string;
  sessionRemainingMicros: bigint | null;
  responseHeaders: object;
  /** Its service.called, made in the request's trace context (createEnvelope). */
  event: AnyEnvelope;
}

/**
 * A call paid from a balance lease, written once when it ends (README "Balance leases"): the
 * whole record, its service.called when it has one, and a notification for the relay, in ONE
 * statement. A record that carries a charge (`lease_charge = 'pending'`) is written only while
 * its lease is `open`, under a share lock on the lease row, so once the sweeper has moved a
 * lease to `closing` no charge can join it.
 */
export interface FinalCall {
  usageId: string;
  buyerId: string;
  serviceId: string;
  providerId: string;
  method: string;
  path: string;
  amountMicros: bigint;
  paymentMethod: string;
  channel: string;
  status: 'completed' | 'failed' | 'abandoned' | 'refused';
  statusCode: number | null;
  latencyMs: number | null;
  responseHeaders: object | null;
  /** A failure's own answer, kept as the record's body. */
  responseBody: string | null;
  leaseId: string;
  /** 'pending': the amount is to be charged against the lease; 'none': nothing is owed. */
  leaseCharge: 'pending' | 'none';
  event: AnyEnvelope | null;
}

const insertFinalSql = (notify: boolean) => `
WITH "v" AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[],
                       $11::int[], $12::int[], $13::text[], $14::text[], $15::uuid[], $16::text[], $17::uuid[], $18::text[], $19::text[])
    AS t("id", "buyer_id", "service_id", "provider_id", "method", "path", "amount_micros", "payment_method", "channel", "status",
         "status_code", "latency_ms", "response_headers", "response_body", "lease_id", "lease_charge", "event_id", "subject", "envelope")
), "open" AS (
  SELECT l."id" FROM "leases" l
   WHERE l."id" IN (SELECT "lease_id" FROM "v" WHERE "lease_charge" = 'pending') AND l."state" = 'open'
     FOR SHARE
), "ok" AS (
  SELECT v.* FROM "v" WHERE v."lease_charge" <> 'pending' OR v."lease_id" IN (SELECT "id" FROM "open")
), "ins" AS (
  INSERT INTO "usage_records" ("id", "buyer_id", "service_id", "provider_id", "method", "path", "amount_micros", "free_tier", "payment_method",
                               "charge_method", "channel", "status", "status_code", "latency_ms", "response_headers", "response_body",
                               "lease_id", "lease_charge", "completed_at")
  SELECT "id", "buyer_id", "service_id", "provider_id", "method", "path", "amount_micros", false, "payment_method",
         'balance', "channel", "status", "status_code", "latency_ms", "response_headers"::jsonb, convert_to("response_body", 'UTF8'),
         "lease_id", "lease_charge", CURRENT_TIMESTAMP
    FROM "ok"
  RETURNING "id"
), "events" AS (
  INSERT INTO "outbox_events" ("id", "type", "subject", "envelope")
  SELECT ok."event_id", 'service.called', ok."subject", ok."envelope"::jsonb FROM "ok" JOIN "ins" USING ("id") WHERE ok."event_id" IS NOT NULL
  RETURNING 1
)
SELECT i."id"::text AS "id"${notify ? `, (SELECT pg_notify('platform_outbox', '')::text FROM (SELECT 1 FROM "events" LIMIT 1) x) AS "n"` : ''} FROM "ins" i`;

const INSERT_PENDING = `
INSERT INTO "usage_records" ("id", "buyer_id", "service_id", "provider_id", "method", "path", "amount_micros", "free_tier",
                             "payment_method", "charge_method", "channel", "agent_id", "session_id", "idempotency_key", "status")
SELECT v.*, 'pending'
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::boolean[],
              $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) AS v
ON CONFLICT ("buyer_id", "idempotency_key") DO NOTHING
RETURNING "id"::text AS "id"`;

/**
 * A call to a service with a free tier: takes one free call if fewer than the limit are used and
 * writes the pending record — free, or at the paid price and method when the tier is used up —
 * in ONE statement. $12 is the tier's size, $13 the charge method when the tier is used up.
 */
const CLAIM_AND_INSERT_PENDING = `
WITH "claim" AS (
  INSERT INTO "free_tier_usage" ("buyer_id", "service_id", "used") VALUES ($2::text, $3::text, 1)
  ON CONFLICT ("buyer_id", "service_id") DO UPDATE SET "used" = "free_tier_usage"."used" + 1
   WHERE "free_tier_usage"."used" < $12::int
  RETURNING 1
), "free" AS (SELECT EXISTS (SELECT 1 FROM "claim") AS "free")
INSERT INTO "usage_records" ("id", "buyer_id", "service_id", "provider_id", "method", "path", "amount_micros", "free_tier",
                             "payment_method", "charge_method", "channel", "agent_id", "session_id", "idempotency_key", "status")
SELECT $1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, CASE WHEN f."free" THEN 0 ELSE $7::bigint END, f."free",
       CASE WHEN f."free" THEN 'free_tier' ELSE $13::text END, CASE WHEN f."free" THEN 'free_tier' ELSE $13::text END,
       $8::text, $9::text, $10::text, $11::text, 'pending'
  FROM "free" f
ON CONFLICT ("buyer_id", "idempotency_key") DO NOTHING
RETURNING "free_tier" AS "free"`;

/**
 * Completes pending records and writes their events in ONE statement (so atomically): an event
 * row only for a record this statement moved from pending, and a notification for the outbox
 * relay, which PostgreSQL delivers at commit.
 */
const completeSql = (notify: boolean) => `
WITH "v" AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::uuid[], $9::text[], $10::text[])
    AS t("id", "status_code", "latency_ms", "amount_micros", "payment_method", "session_remaining_micros", "response_headers", "event_id", "subject", "envelope")
), "done" AS (
  UPDATE "usage_records" u
     SET "status" = 'completed', "status_code" = v."status_code", "latency_ms" = v."latency_ms", "amount_micros" = v."amount_micros",
         "payment_method" = v."payment_method", "session_remaining_micros" = v."session_remaining_micros",
         "response_headers" = v."response_headers"::jsonb, "completed_at" = CURRENT_TIMESTAMP
    FROM "v"
   WHERE u."id" = v."id" AND u."status" = 'pending'
  RETURNING u."id"
), "events" AS (
  INSERT INTO "outbox_events" ("id", "type", "subject", "envelope")
  SELECT v."event_id", 'service.called', v."subject", v."envelope"::jsonb FROM "v" JOIN "done" d ON d."id" = v."id"
  RETURNING 1
)
SELECT d."id"::text AS "id"${notify ? `, (SELECT pg_notify('platform_outbox', '')::text FROM (SELECT 1 FROM "events" LIMIT 1) x) AS "n"` : ''} FROM "done" d`;

/**
 * The paid call's two writes, batched across concurrent calls: the pending record before any
 * debit (crash safety: the sweeper refunds what a dead process left), and the completion with
 * its event. Each batch is one statement, one round trip, whatever its size.
 */
export function usageWriter(db: Db, outbox: Outbox, opts: { maxBatch?: number; maxInFlight?: number; pool?: Pool } = {}) {
  const sizes = { maxBatch: opts.maxBatch ?? 256, maxInFlight: opts.maxInFlight ?? 2 };
  // A plain pg pool when given (a statement costs a fraction of the CPU it costs through Prisma),
  // else Prisma's own connection (standalone's one-connection PGlite).
  const pool = opts.pool;
  const query = async <T>(sql: string, ...params: unknown[]): Promise<T[]> =>
    pool ? (await pool.query(prepared(sql, params))).rows : db.$queryRawUnsafe<T[]>(sql, ...params);
  const completeStatement = completeSql(outbox.notifySql !== null);
  const insertFinalStatement = insertFinalSql(outbox.notifySql !== null);

  const pending = new Batcher<NewUsage, boolean>(async (rows) => {
    const col = <K extends keyof NewUsage>(k: K) => rows.map((r) => r[k]);
    const inserted = await query<{ id: string }>(
      INSERT_PENDING,
      col('id'),
      col('buyerId'),
      col('serviceId'),
      col('providerId'),
      col('method'),
      col('path'),
      rows.map((r) => r.amountMicros.toString()),
      col('freeTier'),
      col('paymentMethod'),
      col('chargeMethod'),
      col('channel'),
      col('agentId'),
      col('sessionId'),
      col('idempotencyKey'),
    );
    const ok = new Set(inserted.map((r) => r.id));
    return rows.map((r) => ok.has(r.id));
  }, sizes);

  const completed = new Batcher<CompletedCall, boolean>(async (calls) => {
    const envelopes = calls.map((c) => c.event);
    const rows = await query<{ id: string }>(
      completeStatement,
      calls.map((c) => c.usageId),
      calls.map((c) => c.statusCode),
      calls.map((c) => c.latencyMs),
      calls.map((c) => c.amountMicros.toString()),
      calls.map((c) => c.paymentMethod),
      calls.map((c) => (c.sessionRemainingMicros === null ? null : c.sessionRemainingMicros.toString())),
      calls.map((c) => JSON.stringify(c.responseHeaders)),
      envelopes.map((e) => e.id),
      envelopes.map((e) => e.subject),
      envelopes.map((e) => JSON.stringify(e)),
    );
    // Without a LISTENing relay (standalone), tell this process's relay the batch is committed.
    if (rows.length && outbox.notifySql === null) outbox.kick();
    const done = new Set(rows.map((r) => r.id));
    return calls.map((c) => done.has(c.usageId));
  }, sizes);

  const finals = new Batcher<FinalCall, boolean>(async (calls) => {
    const rows = await query<{ id: string }>(
      insertFinalStatement,
      calls.map((c) => c.usageId),
      calls.map((c) => c.buyerId),
      calls.map((c) => c.serviceId),
      calls.map((c) => c.providerId),
      calls.map((c) => c.method),
      calls.map((c) => c.path),
      calls.map((c) => c.amountMicros.toString()),
      calls.map((c) => c.paymentMethod),
      calls.map((c) => c.channel),
      calls.map((c) => c.status),
      calls.map((c) => c.statusCode),
      calls.map((c) => c.latencyMs),
      calls.map((c) => (c.responseHeaders === null ? null : JSON.stringify(c.responseHeaders))),
      calls.map((c) => c.responseBody),
      calls.map((c) => c.leaseId),
      calls.map((c) => c.leaseCharge),
      calls.map((c) => c.event?.id ?? null),
      calls.map((c) => c.event?.subject ?? null),
      calls.map((c) => (c.event ? JSON.stringify(c.event) : null)),
    );
    if (rows.length && outbox.notifySql === null && calls.some((c) => c.event)) outbox.kick();
    const done = new Set(rows.map((r) => r.id));
    return calls.map((c) => done.has(c.usageId));
  }, sizes);

  /**
   * The free-tier claim and the pending record on the plain pool: one statement, autocommitted
   * when there is no idempotency key (nothing can conflict); with one, inside a transaction that
   * rolls the claim back if the key turns out taken.
   */
  async function claimAndInsertPending(u: NewUsage, freeTierCalls: number, paidMethod: string): Promise<{ inserted: boolean; freeTier: boolean }> {
    const params = [u.id, u.buyerId, u.serviceId, u.providerId, u.method, u.path, u.amountMicros.toString(), u.channel, u.agentId, u.sessionId, u.idempotencyKey, freeTierCalls, paidMethod];
    if (!pool) throw new Error('claimAndInsertPending needs the plain pool');
    if (u.idempotencyKey === null) {
      const rows = (await pool.query<{ free: boolean }>(prepared(CLAIM_AND_INSERT_PENDING, params))).rows;
      return { inserted: rows.length === 1, freeTier: rows[0]?.free === true };
    }
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const rows = (await client.query<{ free: boolean }>(prepared(CLAIM_AND_INSERT_PENDING, params))).rows;
      // The key is taken: the claim goes back with the transaction.
      await client.query(rows.length === 1 ? 'COMMIT' : 'ROLLBACK');
      return { inserted: rows.length === 1, freeTier: rows[0]?.free === true };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  return {
    /** Whether the free-tier path runs on the plain pool (else the caller uses Prisma's transaction). */
    plain: pool !== undefined,
    claimAndInsertPending,
    /** Writes a pending record; false when the buyer's idempotency key is already taken (a concurrent twin won). */
    insertPending: (u: NewUsage) => pending.push(u),
    /** Completes a pending record with its event; false when it was no longer pending. */
    complete: (c: CompletedCall) => completed.push(c),
    /** Writes a leased call's whole record (and event); false when its lease is no longer open (the charge could not join it). */
    insertFinal: (c: FinalCall) => finals.push(c),
    /** The plain pool (balance leases need it), when there is one. */
    pool,
    close: () => pool?.end(),
  };
}
export type UsageWriter = ReturnType<typeof usageWriter>;
