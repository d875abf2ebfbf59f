import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';

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
    async summaryFor(providerId: string): Promise<{ callCount: number; totalMicros: bigint }> {
      const r = await db.providerUsage.aggregate({ where: { providerId }, _count: { _all: true }, _sum: { amountMicros: true } });
      return { callCount: r._count._all, totalMicros: r._sum.amountMicros ?? 0n };
    },
  };
}
export type ProviderUsageRepository = ReturnType<typeof providerUsageRepository>;
