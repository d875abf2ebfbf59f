import { randomUUID } from 'node:crypto';
import type { Db } from './client';
import type { Tx } from './ledger.repository';
import type { Policy, PolicyCode } from '../domain/policy';

export interface AgentRecord {
  id: string;
  accountId: string;
  orgId: string | null;
  ownerId: string;
  name: string;
  walletAddress: string;
  encryptedKey: string;
  active: boolean;
  departmentId: string | null;
  policy: Policy;
  autoTopupThreshold: bigint | null;
  autoTopupAmount: bigint | null;
  autoTopupSource: string | null;
  gasSponsoredAt: Date | null;
  createdAt: Date;
  deactivatedAt: Date | null;
}

export interface NewAgent {
  id: string;
  accountId: string;
  orgId: string | null;
  ownerId: string;
  name: string;
  walletAddress: string;
  encryptedKey: string;
  spendingCap: bigint | null;
}

export interface AgentPatch {
  name?: string;
  spendingCap?: bigint | null;
  autoTopupThreshold?: bigint | null;
  autoTopupAmount?: bigint | null;
  autoTopupSource?: string | null;
  departmentId?: string | null;
}

export interface PolicyPatch {
  spendingCap?: bigint | null;
  dailyLimit?: bigint | null;
  monthlyLimit?: bigint | null;
  perCallMax?: bigint | null;
  allowedServices?: string[];
  blockedServices?: string[];
  requireSession?: boolean;
}

export type TransactionType = 'fund' | 'onramp' | 'auto_topup' | 'gas_sponsor' | 'drain' | 'payment' | 'session_deposit' | 'session_refund';

export interface NewTransaction {
  agentId: string;
  accountId: string;
  type: TransactionType;
  txHash: string | null;
  reference?: string | null;
  fromAddress: string;
  toAddress: string;
  amount: bigint;
  token: 'USDC' | 'ETH';
  ledgerEntryId: string | null;
}

export interface TransactionRecord extends NewTransaction {
  id: string;
  createdAt: Date;
}

type AgentRow = Awaited<ReturnType<Db['agentWallet']['findUniqueOrThrow']>>;

function toAgent(r: AgentRow): AgentRecord {
  return {
    id: r.id,
    accountId: r.accountId,
    orgId: r.orgId,
    ownerId: r.ownerId,
    name: r.name,
    walletAddress: r.walletAddress,
    encryptedKey: r.encryptedKey,
    active: r.active,
    departmentId: r.departmentId,
    policy: {
      spendingCap: r.spendingCap,
      dailyLimit: r.dailyLimit,
      monthlyLimit: r.monthlyLimit,
      perCallMax: r.perCallMax,
      allowedServices: r.allowedServices,
      blockedServices: r.blockedServices,
      requireSession: r.requireSession,
    },
    autoTopupThreshold: r.autoTopupThreshold,
    autoTopupAmount: r.autoTopupAmount,
    autoTopupSource: r.autoTopupSource,
    gasSponsoredAt: r.gasSponsoredAt,
    createdAt: r.createdAt,
    deactivatedAt: r.deactivatedAt,
  };
}

type TxRow = Awaited<ReturnType<Db['walletTransaction']['findUniqueOrThrow']>>;
const toTransaction = (r: TxRow): TransactionRecord => ({
  id: r.id,
  agentId: r.agentId,
  accountId: r.accountId,
  type: r.type as TransactionType,
  txHash: r.txHash,
  reference: r.reference,
  fromAddress: r.fromAddress,
  toAddress: r.toAddress,
  amount: BigInt(r.amount),
  token: r.token as 'USDC' | 'ETH',
  ledgerEntryId: r.ledgerEntryId,
  createdAt: r.createdAt,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Agent wallets, their policies, transactions, spend counters, key audit and on-ramp sessions. */
export function agentsRepository(db: Db) {
  const client = (tx?: Tx) => tx ?? db;

  return {
    async create(a: NewAgent, tx?: Tx): Promise<AgentRecord> {
      return toAgent(await client(tx).agentWallet.create({ data: { ...a } }));
    },

    /** The agent if it belongs to `accountId`; another account's agent is simply absent. */
    async find(id: string, accountId: string, tx?: Tx): Promise<AgentRecord | null> {
      if (!UUID.test(id)) return null;
      const r = await client(tx).agentWallet.findFirst({ where: { id, accountId } });
      return r ? toAgent(r) : null;
    },

    async findById(id: string, tx?: Tx): Promise<AgentRecord | null> {
      if (!UUID.test(id)) return null;
      const r = await client(tx).agentWallet.findUnique({ where: { id } });
      return r ? toAgent(r) : null;
    },

    /**
     * An agent by id, or by name (spec 001 `X-Agent-Wallet: research-bot`): the name compared
     * case-insensitively, or as a slug ("Research Bot" is "research-bot"). Several matches: null
     * with `ambiguous`.
     */
    async resolve(accountId: string, ref: string): Promise<{ agent: AgentRecord | null; ambiguous: boolean }> {
      if (UUID.test(ref)) {
        const r = await db.agentWallet.findFirst({ where: { id: ref, accountId } });
        if (r) return { agent: toAgent(r), ambiguous: false };
      }
      const rows = await db.$queryRaw<{ id: string }[]>`
        SELECT "id"::text AS "id" FROM "agent_wallets"
        WHERE "account_id" = ${accountId}
          AND (lower("name") = lower(${ref})
               OR trim(both '-' from regexp_replace(lower("name"), '[^a-z0-9]+', '-', 'g')) = lower(${ref}))
        ORDER BY "active" DESC, "created_at" ASC LIMIT 3`;
      if (rows.length !== 1) return { agent: null, ambiguous: rows.length > 1 };
      return { agent: toAgent(await db.agentWallet.findUniqueOrThrow({ where: { id: rows[0].id } })), ambiguous: false };
    },

    async list(accountId: string, page: { limit: number; offset: number }): Promise<{ agents: AgentRecord[]; total: number }> {
      const [rows, total] = await Promise.all([
        db.agentWallet.findMany({ where: { accountId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: page.limit, skip: page.offset }),
        db.agentWallet.count({ where: { accountId } }),
      ]);
      return { agents: rows.map(toAgent), total };
    },

    async update(id: string, patch: AgentPatch, tx?: Tx): Promise<AgentRecord> {
      return toAgent(await client(tx).agentWallet.update({ where: { id }, data: { ...patch, updatedAt: new Date() } }));
    },

    async updatePolicy(id: string, patch: PolicyPatch, tx?: Tx): Promise<AgentRecord> {
      return toAgent(await client(tx).agentWallet.update({ where: { id }, data: { ...patch, updatedAt: new Date() } }));
    },

    /** Deactivates once; answers null when it already was (so the event is staged once). */
    async deactivate(id: string, tx: Tx): Promise<AgentRecord | null> {
      const n = await tx.agentWallet.updateMany({ where: { id, active: true }, data: { active: false, deactivatedAt: new Date(), updatedAt: new Date() } });
      return n.count ? toAgent(await tx.agentWallet.findUniqueOrThrow({ where: { id } })) : null;
    },

    /** Claims the one gas sponsorship of the first funding; false when another funding did already. */
    async claimGasSponsorship(id: string): Promise<boolean> {
      const n = await db.agentWallet.updateMany({ where: { id, gasSponsoredAt: null }, data: { gasSponsoredAt: new Date() } });
      return n.count === 1;
    },
    async releaseGasSponsorship(id: string): Promise<void> {
      await db.agentWallet.update({ where: { id }, data: { gasSponsoredAt: null } });
    },

    /** Claims the agent for one auto top-up until `until`; false while another holds it. */
    async claimTopup(id: string, until: Date): Promise<boolean> {
      const n = await db.$executeRaw`
        UPDATE "agent_wallets" SET "topup_claimed_until" = ${until}
        WHERE "id" = ${id}::uuid AND ("topup_claimed_until" IS NULL OR "topup_claimed_until" < now())`;
      return n === 1;
    },
    async releaseTopup(id: string): Promise<void> {
      await db.agentWallet.update({ where: { id }, data: { topupClaimedUntil: null } });
    },

    /** Active agents with auto top-up configured, a page at a time (the periodic check). */
    async withAutoTopup(afterId: string | null, limit: number): Promise<AgentRecord[]> {
      const rows = await db.agentWallet.findMany({
        where: { active: true, autoTopupThreshold: { not: null }, autoTopupAmount: { not: null }, autoTopupSource: { not: null }, ...(afterId ? { id: { gt: afterId } } : {}) },
        orderBy: { id: 'asc' },
        take: limit,
      });
      return rows.map(toAgent);
    },

    /** Spec 001: a deleted department's agents become "Unassigned". Answers the agents it moved. */
    async clearDepartment(tx: Tx, departmentId: string, orgId: string): Promise<AgentRecord[]> {
      const rows = await tx.agentWallet.findMany({ where: { departmentId, accountId: orgId } });
      if (!rows.length) return [];
      await tx.agentWallet.updateMany({ where: { departmentId, accountId: orgId }, data: { departmentId: null, updatedAt: new Date() } });
      return rows.map((r) => toAgent({ ...r, departmentId: null }));
    },

    /** Records a transaction row; a row already there (same hash and type) is left as it is. */
    async recordTransaction(tx: Tx, t: NewTransaction): Promise<void> {
      await tx.walletTransaction.createMany({
        data: [{ id: randomUUID(), ...t, reference: t.reference ?? null, amount: t.amount.toString() }],
        skipDuplicates: true,
      });
    },

    async transactionByHash(txHash: string, type?: TransactionType): Promise<TransactionRecord | null> {
      const r = await db.walletTransaction.findFirst({ where: { txHash: { equals: txHash, mode: 'insensitive' }, ...(type ? { type } : {}) } });
      return r ? toTransaction(r) : null;
    },

    async transactions(where: { accountId: string; agentId?: string }, page: { limit: number; offset: number }): Promise<{ transactions: TransactionRecord[]; total: number }> {
      const filter = { accountId: where.accountId, ...(where.agentId ? { agentId: where.agentId } : {}) };
      const [rows, total] = await Promise.all([
        db.walletTransaction.findMany({ where: filter, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: page.limit, skip: page.offset }),
        db.walletTransaction.count({ where: filter }),
      ]);
      return { transactions: rows.map(toTransaction), total };
    },

    /** Where the agent's most recent incoming USDC came from ("back to your wallet"). */
    async lastFundingSource(agentId: string): Promise<string | null> {
      const r = await db.walletTransaction.findFirst({
        where: { agentId, type: { in: ['fund', 'onramp', 'auto_topup'] } },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        select: { fromAddress: true },
      });
      return r?.fromAddress ?? null;
    },

    /**
     * Adds a spend to each period's counter only while it stays within that period's limit,
     * in the caller's transaction: one conditional upsert per period, so concurrent spends
     * serialize on the row and cannot overrun a limit. Answers the first period that refused
     * (the transaction must then roll back), or null.
     */
    async addSpend(tx: Tx, agentId: string, periods: { period: string; limit: bigint | null; code: PolicyCode }[], amount: bigint): Promise<{ code: PolicyCode; spent: bigint; limit: bigint } | null> {
      for (const p of periods) {
        if (p.limit === null) {
          await tx.$executeRaw`
            INSERT INTO "agent_spend" ("agent_id", "period", "spent") VALUES (${agentId}::uuid, ${p.period}, ${amount})
            ON CONFLICT ("agent_id", "period") DO UPDATE SET "spent" = "agent_spend"."spent" + EXCLUDED."spent"`;
          continue;
        }
        const rows = await tx.$queryRaw<{ spent: string }[]>`
          INSERT INTO "agent_spend" ("agent_id", "period", "spent")
          SELECT ${agentId}::uuid, ${p.period}, ${amount}::bigint WHERE ${amount}::bigint <= ${p.limit}::bigint
          ON CONFLICT ("agent_id", "period") DO UPDATE SET "spent" = "agent_spend"."spent" + EXCLUDED."spent"
            WHERE "agent_spend"."spent" + EXCLUDED."spent" <= ${p.limit}
          RETURNING "spent"::text AS "spent"`;
        if (!rows.length) {
          const current = await tx.agentSpend.findUnique({ where: { agentId_period: { agentId, period: p.period } } });
          return { code: p.code, spent: current?.spent ?? 0n, limit: p.limit };
        }
      }
      return null;
    },

    /**
     * Gives a refunded spend back to the periods it was counted in, in the order spends lock
     * them (no deadlock with a concurrent spend). Never below zero: a counter is only ever
     * given back what was added to it, the floor is a guard against a period mix-up.
     */
    async releaseSpend(tx: Tx, agentId: string, periods: readonly string[], amount: bigint): Promise<void> {
      for (const period of periods) {
        await tx.$executeRaw`
          UPDATE "agent_spend" SET "spent" = GREATEST("spent" - ${amount}::bigint, 0)
          WHERE "agent_id" = ${agentId}::uuid AND "period" = ${period}`;
      }
    },

    /** Whether this (agent, nonce) was voided (with or without a booking to reverse). */
    async authorizationVoid(agentId: string, nonce: string, tx?: Tx): Promise<{ entryId: string | null } | null> {
      const r = await client(tx).x402Void.findUnique({ where: { agentId_nonce: { agentId, nonce } }, select: { entryId: true } });
      return r ? { entryId: r.entryId } : null;
    },

    async voidAuthorization(tx: Tx, agentId: string, nonce: string, entryId: string | null): Promise<void> {
      await tx.x402Void.createMany({ data: [{ agentId, nonce, entryId }], skipDuplicates: true });
    },

    /** Takes a signed-but-voided payment off the transaction list: it never moved money (the ledger keeps both entries). */
    async removeUnsentPayment(tx: Tx, agentId: string, nonce: string): Promise<void> {
      await tx.walletTransaction.deleteMany({ where: { agentId, type: 'payment', reference: nonce, txHash: null } });
    },

    async spendTotals(agentId: string, periods: string[]): Promise<Map<string, bigint>> {
      const rows = await db.agentSpend.findMany({ where: { agentId, period: { in: periods } } });
      return new Map(rows.map((r) => [r.period, r.spent]));
    },

    async audit(a: { agentId: string; actorId: string; action: 'key_export' | 'env_export'; requestId: string | null }): Promise<void> {
      await db.agentKeyAudit.create({ data: { id: randomUUID(), ...a } });
    },

    async recordOnramp(o: { id: string; agentId: string; accountId: string; actorId: string; provider: string; amountUsd: string | null }): Promise<void> {
      await db.onrampSession.create({ data: o });
    },
  };
}
export type AgentsRepository = ReturnType<typeof agentsRepository>;
