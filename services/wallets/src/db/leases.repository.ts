import type { Db } from './client';
import type { Tx } from './ledger.repository';

export type LeaseState = 'open' | 'closed';

export interface LeaseRecord {
  id: string;
  buyerId: string;
  grantedMicros: bigint;
  releasedMicros: bigint | null;
  state: LeaseState;
  createdAt: Date;
  closedAt: Date | null;
}

type Row = Awaited<ReturnType<Db['balanceLease']['findUniqueOrThrow']>>;
const toLease = (r: Row): LeaseRecord => ({ ...r, state: r.state as LeaseState });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Balance leases (README "Balance leases"). The leased money itself is the ledger account
 * (lease id, balance_lease); these rows say whose it is and whether it is still open.
 */
export function leasesRepository(db: Db) {
  return {
    async findById(id: string, tx?: Tx): Promise<LeaseRecord | null> {
      if (!UUID.test(id)) return null;
      const r = await (tx ?? db).balanceLease.findUnique({ where: { id } });
      return r ? toLease(r) : null;
    },

    /** Several leases in one read (a debit batch's distinct lease ids); unknown ids are absent. */
    async findMany(ids: string[]): Promise<LeaseRecord[]> {
      const valid = ids.filter((id) => UUID.test(id));
      if (!valid.length) return [];
      return (await db.balanceLease.findMany({ where: { id: { in: valid } } })).map(toLease);
    },

    /**
     * The lease row locked for the rest of `tx` (its close): two closes of one lease serialize
     * here, and the second sees the first's state. Debits never lock this row.
     */
    async lockById(tx: Tx, id: string): Promise<LeaseRecord | null> {
      if (!UUID.test(id)) return null;
      const rows = await tx.$queryRaw<{ id: string; buyer_id: string; granted: string; released: string | null; state: string; created_at: Date; closed_at: Date | null }[]>`
        SELECT "id"::text AS "id", "buyer_id", "granted_micros"::text AS "granted", "released_micros"::text AS "released", "state", "created_at", "closed_at"
          FROM "balance_leases" WHERE "id" = ${id}::uuid FOR UPDATE`;
      const r = rows[0];
      if (!r) return null;
      return {
        id: r.id,
        buyerId: r.buyer_id,
        grantedMicros: BigInt(r.granted),
        releasedMicros: r.released === null ? null : BigInt(r.released),
        state: r.state as LeaseState,
        createdAt: r.created_at,
        closedAt: r.closed_at,
      };
    },

    async create(tx: Tx, l: { id: string; buyerId: string; grantedMicros: bigint }): Promise<LeaseRecord> {
      return toLease(await tx.balanceLease.create({ data: { ...l, state: 'open' } }));
    },

    async markClosed(tx: Tx, id: string, releasedMicros: bigint, at: Date): Promise<LeaseRecord> {
      return toLease(await tx.balanceLease.update({ where: { id }, data: { state: 'closed', releasedMicros, closedAt: at } }));
    },

    /**
     * What a buyer holds, in ONE statement (one snapshot, so a lease's open, its debits and its
     * close never show the money twice or not at all): the buyer_balance account and the sum of
     * the balance_lease accounts of the buyer's open leases.
     */
    async fundsOf(buyerId: string, client: Tx | Db = db): Promise<{ balance: bigint; leased: bigint }> {
      const rows = await client.$queryRaw<{ balance: string; leased: string }[]>`
        SELECT COALESCE((SELECT a."balance" FROM "ledger_accounts" a
                          WHERE a."owner_id" = ${buyerId} AND a."kind" = 'buyer_balance' AND a."currency" = 'USDC'), 0)::text AS "balance",
               COALESCE((SELECT SUM(a."balance") FROM "balance_leases" l
                           JOIN "ledger_accounts" a ON a."owner_id" = l."id"::text AND a."kind" = 'balance_lease' AND a."currency" = 'USDC'
                          WHERE l."buyer_id" = ${buyerId} AND l."state" = 'open'), 0)::text AS "leased"`;
      return { balance: BigInt(rows[0].balance), leased: BigInt(rows[0].leased) };
    },
  };
}
export type LeasesRepository = ReturnType<typeof leasesRepository>;
