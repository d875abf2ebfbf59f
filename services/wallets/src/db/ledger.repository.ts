import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import type { Db } from './client';
import { Bulkhead } from './bulkhead';
import type { Prisma } from '../generated/prisma/client';
import type { SqlClient } from '@platform/events';
import {
  AccountKind,
  AccountRef,
  Currency,
  EntryKind,
  NON_NEGATIVE_KINDS,
  PostingInput,
  assertBalanced,
  lockOrder,
} from '../domain/ledger';

/** A transaction handle; the domain passes it through without looking inside. */
export type Tx = Prisma.TransactionClient;

export interface NewEntry {
  idempotencyKey: string;
  kind: EntryKind;
  metadata: Record<string, string | number | boolean | null>;
  postings: PostingInput[];
}

export interface PostedPosting {
  account: AccountRef & { id: string };
  amount: bigint;
  balanceAfter: bigint;
}

export interface PostedEntry {
  id: string;
  idempotencyKey: string;
  kind: EntryKind;
  metadata: Record<string, unknown>;
  createdAt: Date;
  postings: PostedPosting[];
}

export type PostResult = { duplicate: false; entry: PostedEntry } | { duplicate: true; entry: PostedEntry };

/** A per-call debit as the `ledger_debit` database function takes it (one round trip). */
export interface DebitEntry {
  usageId: string;
  /** The new entry's id (also the event's `payment_id`); unused on a replay. */
  entryId: string;
  idempotencyKey: string;
  metadata: Record<string, string | number | boolean | null>;
  /** The guarded account first or not: they are applied in lockOrder. */
  postings: PostingInput[];
  /** The outbox row's envelope (createEnvelope), written only when the entry is new. */
  envelope: { id: string; type: string; subject: string };
  /** Refuse a usage id a refund voided (balance debits); session debits do not look. */
  checkVoid?: boolean;
  /** A session debit: also counted on the session and the agent's spend, in the same statement. */
  session?: {
    sessionId: string;
    agentId: string;
    now: Date;
    /** The policy verdict (agent inactive, service or per-call refusal) applied after the session count, as before. */
    refusal: string | null;
    periods: { period: string; limit: bigint | null; code: string }[];
  };
}

export type DebitOutcome =
  | {
      status: 'posted' | 'duplicate';
      entryId: string;
      metadata: Record<string, unknown>;
      balanceAfter: (account: AccountRef) => bigint | undefined;
      /** Session debits: the session's counters after this debit (a replay: now). */
      session: { usedAmount: bigint; callCount: number } | null;
    }
  | { status: 'voided' }
  /** Session debits: `session_expired`, `session_closed`, the caller's policy refusal, or a spend limit's code (with `spent`/`limit`). */
  | { status: 'refused'; code: string; spent: bigint | null; limit: bigint | null }
  | { status: 'insufficient'; account: AccountRef; available: bigint; required: bigint };

/** A guarded account could not cover a posting; thrown inside the transaction so it rolls back. */
export class InsufficientFundsError extends Error {
  constructor(
    readonly account: AccountRef,
    readonly available: bigint,
    readonly required: bigint,
  ) {
    super(`account ${account.ownerId}/${account.kind} holds ${available}, needs ${required}`);
    this.name = 'InsufficientFundsError';
  }
}

/**
 * Prisma waits this long for a connection before giving up on a transaction; the bulkhead
 * keeps the queue in front of it, so this is only a backstop.
 */
const TX_OPTIONS = { maxWait: 10_000, timeout: 15_000 };

interface DebitRow {
  status: string;
  entry_id: string | null;
  metadata: Record<string, unknown> | null;
  owners: string[] | null;
  kinds: string[] | null;
  balances_after: string[] | null;
  available: string | null;
  session_used: string | null;
  session_calls: number | null;
  refusal: string | null;
  spent: string | null;
  spend_limit: string | null;
}

const asTx = (c: SqlClient | Tx | Db): Tx => c as Tx;

/** Prisma's "Transaction API error" (no connection in time, or the transaction timed out): transient. */
const isTransactionTimeout = (err: unknown) => (err as { code?: string } | null)?.code === 'P2028';

export interface LedgerOptions {
  /** Ledger transactions allowed at once; keep it below the connection pool's size. */
  maxConcurrentTx: number;
  /** Transactions allowed to wait for a slot before new ones are refused with 503. */
  maxQueuedTx: number;
}

export function ledgerRepository(db: Db, opts: LedgerOptions) {
  const bulkhead = new Bulkhead(opts.maxConcurrentTx, opts.maxQueuedTx);

  async function findEntry(client: Tx | Db, idempotencyKey: string): Promise<PostedEntry | null> {
    const row = await client.ledgerEntry.findUnique({
      where: { idempotencyKey },
      include: { postings: { include: { account: true } } },
    });
    if (!row) return null;
    return {
      id: row.id,
      idempotencyKey: row.idempotencyKey,
      kind: row.kind as EntryKind,
      metadata: (row.metadata ?? {}) as Record<string, unknown>,
      createdAt: row.createdAt,
      postings: row.postings.map((p) => ({
        account: { id: p.account.id, ownerId: p.account.ownerId, kind: p.account.kind as AccountKind, currency: p.account.currency as Currency },
        amount: p.amount,
        balanceAfter: p.balanceAfter,
      })),
    };
  }

  /**
   * Applies one posting to its account's cached balance and records the posting row with the
   * balance after it, in one statement. Guarded kinds are only ever taken from by a single
   * conditional UPDATE, so concurrent debits serialize on the row and each sees the previous
   * one's balance: no overspending, whatever the interleaving.
   */
  async function applyPosting(tx: Tx, entryId: string, p: PostingInput): Promise<{ id: string; balance: bigint }> {
    const { ownerId, kind, currency } = p.account;
    if (p.amount < 0n && NON_NEGATIVE_KINDS.has(kind)) {
      const need = -p.amount;
      const rows = await tx.$queryRaw<{ id: string; balance: string }[]>`
        WITH a AS (
          UPDATE "ledger_accounts" SET "balance" = "balance" - ${need}
          WHERE "owner_id" = ${ownerId} AND "kind" = ${kind} AND "currency" = ${currency} AND "balance" >= ${need}
          RETURNING "id", "balance"
        ), p AS (
          INSERT INTO "ledger_postings" ("entry_id", "account_id", "amount", "balance_after")
          SELECT ${entryId}::uuid, a."id", ${p.amount}, a."balance" FROM a
        )
        SELECT a."id"::text AS "id", a."balance"::text AS "balance" FROM a`;
      if (!rows.length) {
        const current = await tx.ledgerAccount.findUnique({ where: { ownerId_kind_currency: { ownerId, kind, currency } }, select: { balance: true } });
        throw new InsufficientFundsError(p.account, current?.balance ?? 0n, need);
      }
      return { id: rows[0].id, balance: BigInt(rows[0].balance) };
    }
    const rows = await tx.$queryRaw<{ id: string; balance: string }[]>`
      WITH a AS (
        INSERT INTO "ledger_accounts" ("id", "owner_id", "kind", "currency", "balance")
        VALUES (${randomUUID()}::uuid, ${ownerId}, ${kind}, ${currency}, ${p.amount})
        ON CONFLICT ("owner_id", "kind", "currency") DO UPDATE SET "balance" = "ledger_accounts"."balance" + EXCLUDED."balance"
        RETURNING "id", "balance"
      ), p AS (
        INSERT INTO "ledger_postings" ("entry_id", "account_id", "amount", "balance_after")
        SELECT ${entryId}::uuid, a."id", ${p.amount}, a."balance" FROM a
      )
      SELECT a."id"::text AS "id", a."balance"::text AS "balance" FROM a`;
    return { id: rows[0].id, balance: BigInt(rows[0].balance) };
  }

  return {
    /** Runs `fn` in one database transaction; everything it posts and stages commits together. */
    transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      return bulkhead.run(() =>
        db.$transaction(fn, TX_OPTIONS).catch((err: unknown) => {
          if (isTransactionTimeout(err)) {
            throw new AppError('UNAVAILABLE', 'Wallets is busy; retry with the same idempotency key', undefined, { 'Retry-After': '1' });
          }
          throw err;
        }),
      );
    },

    /**
     * Writes a balanced entry and its postings and moves the cached balances, inside `tx`.
     * The idempotency key is claimed first: a replay (even one racing the original) waits for
     * it, finds it, and answers the stored entry without touching any balance.
     */
    async post(client: Tx | SqlClient, entry: NewEntry): Promise<PostResult> {
      const tx = asTx(client);
      assertBalanced(entry.postings);
      const id = randomUUID();
      const claimed = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO "ledger_entries" ("id", "idempotency_key", "kind", "metadata")
        VALUES (${id}::uuid, ${entry.idempotencyKey}, ${entry.kind}, ${JSON.stringify(entry.metadata)}::jsonb)
        ON CONFLICT ("idempotency_key") DO NOTHING
        RETURNING "id"::text AS "id"`;
      if (!claimed.length) {
        const existing = await findEntry(tx, entry.idempotencyKey);
        if (!existing) throw new Error(`ledger entry ${entry.idempotencyKey} conflicts but cannot be read`);
        return { duplicate: true, entry: existing };
      }

      const posted: PostedPosting[] = [];
      for (const p of lockOrder(entry.postings)) {
        const after = await applyPosting(tx, id, p);
        posted.push({ account: { ...p.account, id: after.id }, amount: p.amount, balanceAfter: after.balance });
      }
      return {
        duplicate: false,
        entry: { id, idempotencyKey: entry.idempotencyKey, kind: entry.kind, metadata: entry.metadata, createdAt: new Date(), postings: posted },
      };
    },

    /**
     * A per-call payment entry in ONE statement: the `ledger_debit` function (migration
     * 20261210000000_debit_function) takes the usage lock, checks the void, claims the key
     * (a replay answers the stored entry), takes the guarded posting with the conditional
     * UPDATE, writes the postings and the outbox row, all while the row lock lasts
     * microseconds. Runs through the bulkhead like every ledger transaction.
     */
    async debit(d: DebitEntry): Promise<DebitOutcome> {
      assertBalanced(d.postings);
      const ordered = lockOrder(d.postings);
      const currency = ordered[0].account.currency;
      const guarded = ordered.find((p) => p.amount < 0n && NON_NEGATIVE_KINDS.has(p.account.kind));
      const s = d.session;
      const rows = await bulkhead.run(() =>
        db.$queryRaw<DebitRow[]>`
          SELECT "status", "entry_id"::text AS "entry_id", "metadata", "owners", "kinds", "balances_after"::text[] AS "balances_after", "available"::text AS "available",
                 "session_used"::text AS "session_used", "session_calls", "refusal", "spent"::text AS "spent", "spend_limit"::text AS "spend_limit"
          FROM "ledger_debit"(
            ${d.usageId}, ${d.entryId}::uuid, ${d.idempotencyKey}, 'payment', ${JSON.stringify(d.metadata)}::jsonb,
            ${ordered.map((p) => p.account.ownerId)}::text[], ${ordered.map((p) => p.account.kind)}::text[],
            ${ordered.map((p) => p.amount.toString())}::bigint[], ${ordered.map((p) => p.amount < 0n && NON_NEGATIVE_KINDS.has(p.account.kind))}::boolean[],
            ${currency}, ${JSON.stringify(d.envelope)}::jsonb, ${d.checkVoid ?? true},
            ${s?.sessionId ?? null}::uuid, ${s?.now ?? null}::timestamptz, ${s?.refusal ?? null}::text, ${s?.agentId ?? null}::uuid,
            ${s ? s.periods.map((p) => p.period) : null}::text[], ${s ? s.periods.map((p) => (p.limit === null ? null : p.limit.toString())) : null}::bigint[],
            ${s ? s.periods.map((p) => p.code) : null}::text[])`,
      );
      const r = rows[0];
      if (!r) throw new Error(`ledger_debit returned nothing for ${d.idempotencyKey}`);
      if (r.status === 'voided') return { status: 'voided' };
      if (r.status === 'refused') return { status: 'refused', code: r.refusal ?? 'refused', spent: r.spent === null ? null : BigInt(r.spent), limit: r.spend_limit === null ? null : BigInt(r.spend_limit) };
      if (r.status === 'insufficient') {
        const account = guarded?.account ?? ordered[0].account;
        return { status: 'insufficient', account, available: BigInt(r.available ?? '0'), required: guarded ? -guarded.amount : 0n };
      }
      const owners = r.owners ?? [];
      const kinds = r.kinds ?? [];
      const after = r.balances_after ?? [];
      return {
        status: r.status as 'posted' | 'duplicate',
        entryId: r.entry_id!,
        metadata: r.metadata ?? {},
        balanceAfter: (a: AccountRef) => {
          const i = owners.findIndex((o, j) => o === a.ownerId && kinds[j] === a.kind);
          return i < 0 ? undefined : BigInt(after[i]);
        },
        session: r.session_used === null || r.session_calls === null ? null : { usedAmount: BigInt(r.session_used), callCount: Number(r.session_calls) },
      };
    },

    findEntry: (idempotencyKey: string, client: Tx | SqlClient | Db = db) => findEntry(asTx(client), idempotencyKey),

    /**
     * Serializes everything done to one usage id (its debit, its refund) for the rest of `tx`:
     * a transaction-scoped advisory lock, so a refund that finds no debit and a debit racing it
     * cannot both commit unaware of each other.
     */
    async lockUsage(client: Tx | SqlClient, usageId: string): Promise<void> {
      await asTx(client).$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`usage:${usageId}`}, 0))`;
    },

    /** Marks a usage id that was refunded before any debit; later debits of it are refused. */
    async voidUsage(client: Tx | SqlClient, usageId: string): Promise<void> {
      await asTx(client).$executeRaw`INSERT INTO "debit_voids" ("usage_id") VALUES (${usageId}) ON CONFLICT ("usage_id") DO NOTHING`;
    },

    async isVoided(client: Tx | SqlClient, usageId: string): Promise<boolean> {
      const rows = await asTx(client).$queryRaw<{ one: number }[]>`SELECT 1 AS "one" FROM "debit_voids" WHERE "usage_id" = ${usageId}`;
      return rows.length > 0;
    },

    /** The cached balance; an account that was never posted to holds zero. */
    async balanceOf(account: AccountRef, client: Tx | Db = db): Promise<bigint> {
      const row = await client.ledgerAccount.findUnique({
        where: { ownerId_kind_currency: { ownerId: account.ownerId, kind: account.kind, currency: account.currency } },
        select: { balance: true },
      });
      return row?.balance ?? 0n;
    },

    /** Whether the account was ever posted to (credits: whether the owner is on the credit plan). */
    async hasAccount(account: AccountRef, client: Tx | SqlClient | Db = db): Promise<boolean> {
      const row = await asTx(client).ledgerAccount.findUnique({
        where: { ownerId_kind_currency: { ownerId: account.ownerId, kind: account.kind, currency: account.currency } },
        select: { id: true },
      });
      return row !== null;
    },

    /** Every account balance of one owner in one currency, read in one statement (a consistent snapshot). */
    async balancesOf(ownerId: string, currency: Currency, client: Tx | Db = db): Promise<Map<AccountKind, bigint>> {
      const rows = await client.ledgerAccount.findMany({ where: { ownerId, currency }, select: { kind: true, balance: true } });
      return new Map(rows.map((r) => [r.kind as AccountKind, r.balance]));
    },

    /**
     * Runs `fn` inside a savepoint of the caller's transaction: when it throws, what it wrote
     * (a claimed key, postings) is undone and the transaction can go on, e.g. to record that
     * a debit was refused instead of failing the whole unit of work.
     */
    async savepoint<T>(client: Tx | SqlClient, fn: () => Promise<T>): Promise<T> {
      const tx = asTx(client);
      await tx.$executeRawUnsafe('SAVEPOINT "ledger_attempt"');
      try {
        const r = await fn();
        await tx.$executeRawUnsafe('RELEASE SAVEPOINT "ledger_attempt"');
        return r;
      } catch (err) {
        await tx.$executeRawUnsafe('ROLLBACK TO SAVEPOINT "ledger_attempt"');
        throw err;
      }
    },
  };
}
export type LedgerRepository = ReturnType<typeof ledgerRepository>;
