import type { Db } from './client';
import type { Prisma, ApiKey } from '../generated/prisma/client';
import type { KeyRecord, KeyStore, NewKey } from '../domain/ports';
import type { KeyFamily } from '../domain/key-material';

export type Client = Db | Prisma.TransactionClient;

const toRecord = (k: ApiKey): KeyRecord => ({ ...k, family: k.family as KeyFamily });

export function keysRepository(db: Client): KeyStore {
  return {
    async findById(id) {
      const k = await db.apiKey.findUnique({ where: { id } });
      return k && toRecord(k);
    },
    async findBySecretHash(secretHash) {
      const k = await db.apiKey.findUnique({ where: { secretHash } });
      return k && toRecord(k);
    },
    async insert(key: NewKey) {
      return toRecord(await db.apiKey.create({ data: key }));
    },
    async listByOwner(ownerId, family, page) {
      const rows = await db.apiKey.findMany({
        where: { ownerId, family, revokedAt: null },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: page.limit,
        skip: page.offset,
      });
      return rows.map(toRecord);
    },
    async revoke(id, at) {
      const { count } = await db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
      return count === 1;
    },
    async ownerHasKeys(ownerId) {
      return (await db.apiKey.findFirst({ where: { ownerId }, select: { id: true } })) !== null;
    },
    async lockOwner(ownerId) {
      // Namespace 7101 keeps these locks apart from other advisory locks in this database.
      await db.$queryRawUnsafe('SELECT 1 FROM (SELECT pg_advisory_xact_lock(7101, hashtext($1))) AS l', ownerId);
    },
  };
}
