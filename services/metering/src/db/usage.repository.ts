import type { Db } from './client';
import type { Prisma, UsageRecord } from '../generated/prisma/client';

export type UsageRow = UsageRecord;
export type Tx = Prisma.TransactionClient;

export interface NewUsage {
  id: string;
  buyerId: string;
  serviceId: string;
  providerId: string;
  method: string;
  path: string;
  amountMicros: bigint;
  freeTier: boolean;
  paymentMethod: string;
  chargeMethod: string;
  channel: string;
  agentId: string | null;
  sessionId: string | null;
  idempotencyKey: string | null;
}

export interface UsageSummary {
  calls: number;
  spentMicros: bigint;
  avgLatencyMs: number | null;
}

/** Prisma's code for a unique-constraint violation. */
export const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === 'P2002';

export function usageRepository(db: Db) {
  return {
    transaction: <T>(fn: (tx: Tx) => Promise<T>) => db.$transaction(fn),
    findById: (id: string) => db.usageRecord.findUnique({ where: { id } }),
    findByKey: (buyerId: string, idempotencyKey: string) => db.usageRecord.findUnique({ where: { buyerId_idempotencyKey: { buyerId, idempotencyKey } } }),
    createPending: (tx: Tx, u: NewUsage) => tx.usageRecord.create({ data: { ...u, status: 'pending' } }),

    /** Takes one free call if fewer than `limit` are used; one statement, so concurrent calls cannot overdraw it. */
    async claimFreeCall(tx: Tx, buyerId: string, serviceId: string, limit: number): Promise<boolean> {
      const rows = await tx.$queryRawUnsafe<{ used: number }[]>(
        `INSERT INTO "free_tier_usage" ("buyer_id", "service_id", "used") VALUES ($1, $2, 1)
         ON CONFLICT ("buyer_id", "service_id") DO UPDATE SET "used" = "free_tier_usage"."used" + 1
         WHERE "free_tier_usage"."used" < $3
         RETURNING "used"`,
        buyerId,
        serviceId,
        limit,
      );
      return rows.length === 1;
    },
    async releaseFreeCall(tx: Tx, buyerId: string, serviceId: string): Promise<void> {
      await tx.$executeRawUnsafe(
        'UPDATE "free_tier_usage" SET "used" = "used" - 1 WHERE "buyer_id" = $1 AND "service_id" = $2 AND "used" > 0',
        buyerId,
        serviceId,
      );
    },

    /** Moves a pending record to its outcome; answers false when it was no longer pending. */
    async settle(id: string, data: Prisma.UsageRecordUpdateManyMutationInput, tx: Tx | Db = db): Promise<boolean> {
      const r = await tx.usageRecord.updateMany({ where: { id, status: 'pending' }, data });
      return r.count === 1;
    },
    /**
     * Takes over a call left `unsettled` (an x402 payment sent, no answer): back to pending for
     * the client's retry with the same key; false when another retry took it first.
     */
    async claimUnsettled(id: string): Promise<boolean> {
      const r = await db.usageRecord.updateMany({ where: { id, status: 'unsettled' }, data: { status: 'pending' } });
      return r.count === 1;
    },
    /** Moves a pending or unsettled record to its outcome (the sweeper closes unsettled ones). */
    async settleUnsettled(id: string, data: Prisma.UsageRecordUpdateManyMutationInput, tx: Tx | Db = db): Promise<boolean> {
      const r = await tx.usageRecord.updateMany({ where: { id, status: 'unsettled' }, data });
      return r.count === 1;
    },
    unsettled: (take: number) => db.usageRecord.findMany({ where: { status: 'unsettled' }, orderBy: { createdAt: 'asc' }, take }),
    storeBody: (id: string, body: Uint8Array<ArrayBuffer>) => db.usageRecord.update({ where: { id }, data: { responseBody: body } }),
    markRefunded: (id: string) => db.usageRecord.updateMany({ where: { id, refund: 'pending' }, data: { refund: 'done' } }),

    stalePending: (before: Date, take: number) =>
      db.usageRecord.findMany({ where: { status: 'pending', createdAt: { lt: before } }, orderBy: { createdAt: 'asc' }, take }),
    pendingRefunds: (take: number) => db.usageRecord.findMany({ where: { refund: 'pending' }, orderBy: { createdAt: 'asc' }, take }),

    /** Calls that reached the forwarding step (completed or failed at the provider), per spec 002 usage/me. */
    async summary(buyerId: string): Promise<UsageSummary> {
      const rows = await db.$queryRawUnsafe<{ calls: bigint; spent: string | null; avg: string | null }[]>(
        `SELECT count(*)::bigint AS calls,
                sum("amount_micros") FILTER (WHERE "status" = 'completed')::text AS spent,
                avg("latency_ms")::text AS avg
           FROM "usage_records"
          WHERE "buyer_id" = $1 AND "status" IN ('completed', 'failed')`,
        buyerId,
      );
      const r = rows[0];
      return { calls: Number(r?.calls ?? 0), spentMicros: BigInt(r?.spent ?? '0'), avgLatencyMs: r?.avg == null ? null : Number(r.avg) };
    },
  };
}
export type UsageRepository = ReturnType<typeof usageRepository>;
