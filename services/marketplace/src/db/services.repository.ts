import type { Db } from './client';
import type { Prisma, Service } from '../generated/prisma/client';

export type ServiceRow = Service;
export type Tx = Prisma.TransactionClient;

export interface NewServiceRow {
  id: string;
  providerId: string;
  name: string;
  description: string;
  endpoint: string;
  priceMicros: bigint;
  paymentMethod: string;
  freeTierCalls: number;
  category: string;
  tags: string[];
}

export type ServiceChanges = Partial<Omit<NewServiceRow, 'id' | 'providerId'> & { status: string }>;

export interface ListFilter {
  text?: string;
  category?: string;
  status: string;
  limit: number;
  offset: number;
}

/** ILIKE treats % and _ as wildcards; a search for "50%" means the literal text. */
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export function servicesRepository(db: Db) {
  return {
    transaction: <T>(fn: (tx: Tx) => Promise<T>) => db.$transaction(fn),
    create: (tx: Tx, row: NewServiceRow) => tx.service.create({ data: { ...row, status: 'active' } }),
    findById: (id: string, tx: Tx | Db = db) => tx.service.findUnique({ where: { id } }),
    /** Row lock so concurrent changes to one service stage their events in commit order. */
    async lockById(tx: Tx, id: string): Promise<ServiceRow | null> {
      await tx.$queryRawUnsafe('SELECT 1 FROM "services" WHERE "id" = $1::uuid FOR UPDATE', id);
      return tx.service.findUnique({ where: { id } });
    },
    update: (tx: Tx, id: string, changes: ServiceChanges) => tx.service.update({ where: { id }, data: changes }),
    list(f: ListFilter): Promise<ServiceRow[]> {
      const where: Prisma.ServiceWhereInput = { status: f.status };
      if (f.category) where.category = f.category;
      if (f.text) {
        const needle = escapeLike(f.text);
        where.OR = [
          { name: { contains: needle, mode: 'insensitive' } },
          { description: { contains: needle, mode: 'insensitive' } },
        ];
      }
      return db.service.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: f.limit, skip: f.offset });
    },
    /** A provider's own services in every status, newest first. */
    listByProvider: (providerId: string, q: { limit: number; offset: number }) =>
      db.service.findMany({ where: { providerId }, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: q.limit, skip: q.offset }),
    countByProvider: (providerId: string, status?: string) => db.service.count({ where: { providerId, ...(status ? { status } : {}) } }),
  };
}
export type ServicesRepository = ReturnType<typeof servicesRepository>;
