import type { Db } from './client';
import type { Tx } from './ledger.repository';

export type SessionStatus = 'opening' | 'open' | 'closing' | 'closed' | 'failed';

export interface SessionRecord {
  id: string;
  agentId: string;
  accountId: string;
  depositAmount: bigint;
  usedAmount: bigint;
  callCount: number;
  status: SessionStatus;
  durationS: number;
  depositNonce: string;
  depositTxHash: string | null;
  refundNonce: string | null;
  refundedAmount: bigint | null;
  refundTxHash: string | null;
  failureReason: string | null;
  expiresAt: Date;
  closedAt: Date | null;
  createdAt: Date;
}

type Row = Awaited<ReturnType<Db['paymentSession']['findUniqueOrThrow']>>;
const toSession = (r: Row): SessionRecord => ({ ...r, status: r.status as SessionStatus });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Payment sessions; their balance is the ledger account (session id, session_balance). */
export function sessionsRepository(db: Db) {
  return {
    async create(s: { id: string; agentId: string; accountId: string; depositAmount: bigint; durationS: number; depositNonce: string; expiresAt: Date }): Promise<SessionRecord> {
      return toSession(await db.paymentSession.create({ data: { ...s, status: 'opening' } }));
    },

    async find(id: string, accountId: string): Promise<SessionRecord | null> {
      if (!UUID.test(id)) return null;
      const r = await db.paymentSession.findFirst({ where: { id, accountId } });
      return r ? toSession(r) : null;
    },

    async findById(id: string, tx?: Tx): Promise<SessionRecord | null> {
      if (!UUID.test(id)) return null;
      const r = await (tx ?? db).paymentSession.findUnique({ where: { id } });
      return r ? toSession(r) : null;
    },

    async list(accountId: string, filter: { agentId?: string; status?: SessionStatus }, page: { limit: number; offset: number }): Promise<{ sessions: SessionRecord[]; total: number }> {
      const where = { accountId, ...(filter.agentId ? { agentId: filter.agentId } : {}), ...(filter.status ? { status: filter.status } : { status: { not: 'failed' } }) };
      const [rows, total] = await Promise.all([
        db.paymentSession.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: page.limit, skip: page.offset }),
        db.paymentSession.count({ where }),
      ]);
      return { sessions: rows.map(toSession), total };
    },

    async setDepositTxHash(id: string, txHash: string): Promise<void> {
      await db.paymentSession.update({ where: { id }, data: { depositTxHash: txHash, updatedAt: new Date() } });
    },

    /** opening → open, in the transaction that posts the deposit; false if it was not opening. */
    async markOpen(tx: Tx, id: string, depositTxHash: string, expiresAt: Date): Promise<boolean> {
      const n = await tx.paymentSession.updateMany({ where: { id, status: 'opening' }, data: { status: 'open', depositTxHash, expiresAt, updatedAt: new Date() } });
      return n.count === 1;
    },

    async markFailed(id: string, reason: string): Promise<void> {
      await db.paymentSession.updateMany({ where: { id, status: 'opening' }, data: { status: 'failed', failureReason: reason.slice(0, 500), updatedAt: new Date() } });
    },

    /**
     * Counts one debit on an open, unexpired session, in the debit's transaction. The row lock
     * orders it against a close: once a close has claimed the session no debit counts (null).
     */
    async countDebit(tx: Tx, id: string, amount: bigint, now: Date): Promise<{ usedAmount: bigint; callCount: number } | null> {
      const rows = await tx.$queryRaw<{ used: string; calls: number }[]>`
        UPDATE "payment_sessions" SET "used_amount" = "used_amount" + ${amount}, "call_count" = "call_count" + 1, "updated_at" = ${now}
        WHERE "id" = ${id}::uuid AND "status" = 'open' AND "expires_at" > ${now}
        RETURNING "used_amount"::text AS "used", "call_count" AS "calls"`;
      return rows.length ? { usedAmount: BigInt(rows[0].used), callCount: Number(rows[0].calls) } : null;
    },

    /**
     * Takes a refunded debit off an open session's counters, in the refund's transaction,
     * after the refund's postings (the order a debit locks in: accounts, then the session
     * row). False once a close has claimed the session: its remaining balance is then final.
     */
    async uncountDebit(tx: Tx, id: string, amount: bigint): Promise<boolean> {
      const n = await tx.$executeRaw`
        UPDATE "payment_sessions" SET "used_amount" = "used_amount" - ${amount}, "call_count" = GREATEST("call_count" - 1, 0), "updated_at" = now()
        WHERE "id" = ${id}::uuid AND "status" = 'open'`;
      return n === 1;
    },

    /** Voids a usage id for one session (a refund found no debit): ledger_debit refuses that pair later. */
    async voidDebit(tx: Tx, sessionId: string, usageId: string): Promise<void> {
      await tx.sessionDebitVoid.createMany({ data: [{ sessionId, usageId }], skipDuplicates: true });
    },

    /**
     * open (expired or not) → closing, or a closing one resumed after a crash; fixes the refund
     * nonce once. After this commits no debit can count, so used_amount is final.
     */
    async claimClose(id: string, refundNonce: string): Promise<SessionRecord | null> {
      const rows = await db.$queryRaw<{ id: string }[]>`
        UPDATE "payment_sessions" SET "status" = 'closing', "refund_nonce" = COALESCE("refund_nonce", ${refundNonce}), "updated_at" = now()
        WHERE "id" = ${id}::uuid AND "status" IN ('open', 'closing')
        RETURNING "id"::text AS "id"`;
      if (!rows.length) return null;
      return toSession(await db.paymentSession.findUniqueOrThrow({ where: { id } }));
    },

    async markClosed(tx: Tx, id: string, refunded: bigint, refundTxHash: string | null): Promise<boolean> {
      const n = await tx.paymentSession.updateMany({
        where: { id, status: 'closing' },
        data: { status: 'closed', refundedAmount: refunded, refundTxHash, closedAt: new Date(), updatedAt: new Date() },
      });
      return n.count === 1;
    },

    /** Sessions a crash may have left half-way: opening with a submitted deposit, or closing. */
    async unfinished(olderThan: Date): Promise<SessionRecord[]> {
      const rows = await db.paymentSession.findMany({
        where: { updatedAt: { lt: olderThan }, OR: [{ status: 'closing' }, { status: 'opening' }] },
        orderBy: { createdAt: 'asc' },
        take: 100,
      });
      return rows.map(toSession);
    },
  };
}
export type SessionsRepository = ReturnType<typeof sessionsRepository>;
