import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';
import type { MethodTotal } from '../domain/payout';

export interface UsageRecord {
  usageId: string;
  providerId: string;
  serviceId: string;
  buyerId: string;
  amountMicros: bigint;
  freeTier: boolean;
  paymentMethod: string;
  statusCode: number;
  latencyMs: number;
  calledAt: Date;
}

export function providerUsageRepository(db: Db) {
  return {
    /** Inside the consumer's transaction; the usage id is the key, so a replay changes nothing. */
    async record(tx: SqlClient, u: UsageRecord): Promise<void> {
      await (tx as Prisma.TransactionClient).providerUsage.upsert({ where: { usageId: u.usageId }, create: u, update: {} });
    },
    /** `record` for many calls: one insert, a usage id already known left as it is. */
    async recordMany(tx: SqlClient, us: UsageRecord[]): Promise<void> {
      if (us.length) await (tx as Prisma.TransactionClient).providerUsage.createMany({ data: us, skipDuplicates: true });
    },
    /**
     * A provider's calls grouped by payment method (fold them with domain/payout's
     * `providerTotals`); `period` is half-open [from, to) on the call time, as a settlement period is.
     */
    async totalsByMethod(providerId: string, period?: { from: Date; to: Date }): Promise<MethodTotal[]> {
      const groups = await db.providerUsage.groupBy({
        by: ['paymentMethod'],
        where: { providerId, ...(period ? { calledAt: { gte: period.from, lt: period.to } } : {}) },
        _count: { _all: true },
        _sum: { amountMicros: true },
      });
      return groups.map((g) => ({ paymentMethod: g.paymentMethod, callCount: g._count._all, amountMicros: g._sum.amountMicros ?? 0n }));
    },
  };
}
export type ProviderUsageRepository = ReturnType<typeof providerUsageRepository>;
