import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';

export interface NewDelivery {
  id: string;
  webhookId: string;
  ownerId: string;
  eventId: string;
  event: string;
  body: string;
  nextAttemptAt: Date;
}

/** A delivery taken by this worker: `attempts` already counts the attempt about to be made. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  ownerId: string;
  event: string;
  body: string;
  attempts: number;
}

export interface AttemptLog {
  statusCode?: number;
  error?: string;
  durationMs: number;
  attemptedAt: Date;
}

export function deliveriesRepository(db: Db) {
  const logAttempt = (tx: Prisma.TransactionClient, deliveryId: string, attempt: number, a: AttemptLog) =>
    tx.deliveryAttempt.create({
      data: { deliveryId, attempt, statusCode: a.statusCode ?? null, error: a.error?.slice(0, 500) ?? null, durationMs: Math.round(a.durationMs), attemptedAt: a.attemptedAt },
    });

  return {
    /** In the consumer's transaction; (webhook_id, event_id) is unique, so a redelivered event adds nothing. */
    async enqueue(tx: SqlClient, rows: NewDelivery[]): Promise<number> {
      if (!rows.length) return 0;
      const r = await (tx as Prisma.TransactionClient).webhookDelivery.createMany({ data: rows, skipDuplicates: true });
      return r.count;
    },

    /**
     * Takes up to `limit` due deliveries and leases them until `leaseUntil`: replicas skip
     * rows another one has locked, and a worker that dies mid-send leaves a row that falls
     * due again when the lease ends (at-least-once, like the rest of the platform).
     */
    async claimDue(now: Date, leaseUntil: Date, limit: number): Promise<ClaimedDelivery[]> {
      const rows = await db.$queryRawUnsafe<{ id: string; webhook_id: string; owner_id: string; event: string; body: string; attempts: number }[]>(
        `UPDATE "webhook_deliveries" d SET "attempts" = d."attempts" + 1, "next_attempt_at" = $2::timestamptz
         FROM (SELECT "id" FROM "webhook_deliveries" WHERE "status" = 'pending' AND "next_attempt_at" <= $1::timestamptz
               ORDER BY "next_attempt_at" LIMIT $3 FOR UPDATE SKIP LOCKED) due
         WHERE d."id" = due."id"
         RETURNING d."id", d."webhook_id", d."owner_id", d."event", d."body", d."attempts"`,
        now.toISOString(),
        leaseUntil.toISOString(),
        limit,
      );
      return rows.map((r) => ({ id: r.id, webhookId: r.webhook_id, ownerId: r.owner_id, event: r.event, body: r.body, attempts: Number(r.attempts) }));
    },

    /** Success, its log line and whatever the caller stages in the outbox commit together. */
    async markDelivered(d: ClaimedDelivery, a: AttemptLog, alsoInTx: (tx: SqlClient) => Promise<unknown>): Promise<void> {
      await db.$transaction(async (tx) => {
        await tx.webhookDelivery.update({ where: { id: d.id }, data: { status: 'delivered', lastStatusCode: a.statusCode ?? null, lastError: null, completedAt: a.attemptedAt } });
        await logAttempt(tx, d.id, d.attempts, a);
        await alsoInTx(tx);
      });
    },

    async reschedule(d: ClaimedDelivery, a: AttemptLog, nextAttemptAt: Date): Promise<void> {
      await db.$transaction(async (tx) => {
        await tx.webhookDelivery.update({ where: { id: d.id }, data: { nextAttemptAt, lastStatusCode: a.statusCode ?? null, lastError: a.error?.slice(0, 500) ?? null } });
        await logAttempt(tx, d.id, d.attempts, a);
      });
    },

    /** Terminal: `failed` after the last retry or a refusal, `cancelled` when the subscription is gone. */
    async finish(d: ClaimedDelivery, status: 'failed' | 'cancelled', a: AttemptLog | undefined, reason: string, at: Date): Promise<void> {
      await db.$transaction(async (tx) => {
        await tx.webhookDelivery.update({
          where: { id: d.id },
          data: { status, completedAt: at, lastStatusCode: a?.statusCode ?? null, lastError: reason.slice(0, 500), ...(a ? {} : { attempts: d.attempts - 1 }) },
        });
        if (a) await logAttempt(tx, d.id, d.attempts, a);
      });
    },

    findByEvent: (eventId: string) => db.webhookDelivery.findMany({ where: { eventId }, include: { attemptLog: { orderBy: { attempt: 'asc' } } } }),
  };
}
export type DeliveriesRepository = ReturnType<typeof deliveriesRepository>;
