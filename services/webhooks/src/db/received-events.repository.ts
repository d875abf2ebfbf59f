import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';

export function receivedEventsRepository(db: Db) {
  return {
    record: (tx: SqlClient, e: { eventId: string; type: string; subject: string }) =>
      (tx as Prisma.TransactionClient).receivedEvent.createMany({ data: [e], skipDuplicates: true }),
    recordMany: (tx: SqlClient, es: { eventId: string; type: string; subject: string }[]) =>
      (tx as Prisma.TransactionClient).receivedEvent.createMany({ data: es, skipDuplicates: true }),
    count: (type: string, subject: string) => db.receivedEvent.count({ where: { type, subject } }),
  };
}
export type ReceivedEventsRepository = ReturnType<typeof receivedEventsRepository>;
