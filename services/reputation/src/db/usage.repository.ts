import type { Db } from './client';
import type { SqlClient } from '@platform/events';
import type { Prisma } from '../generated/prisma/client';

export interface Observation {
  usageId: string;
  serviceId: string;
  providerId: string;
  buyerId: string;
  statusCode: number;
  latencyMs: number;
  calledAt: Date;
}

export function usageRepository(db: Db) {
  return {
    /** Inside the consumer's transaction, so the dedup row and the observation commit together. */
    async record(tx: SqlClient, o: Observation): Promise<void> {
      await (tx as Prisma.TransactionClient).usageObservation.upsert({ where: { usageId: o.usageId }, create: o, update: {} });
    },
    /** `record` for many calls: one insert, a usage id already observed left as it is. */
    async recordMany(tx: SqlClient, os: Observation[]): Promise<void> {
      if (os.length) await (tx as Prisma.TransactionClient).usageObservation.createMany({ data: os, skipDuplicates: true });
    },
    async statsForProvider(providerId: string) {
      const rows = await db.usageObservation.findMany({ where: { providerId }, select: { statusCode: true, latencyMs: true } });
      return rows;
    },
    count: (where: Prisma.UsageObservationWhereInput = {}) => db.usageObservation.count({ where }),
  };
}
export type UsageRepository = ReturnType<typeof usageRepository>;
