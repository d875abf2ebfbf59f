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

    findEntry: (idempotencyKey: string, client: Tx | SqlClient | Db = db) => findEntry(asTx(client), idempotencyKey),

    /** The cached balance; an account that was never posted to holds zero. */
    async balanceOf(account: AccountRef, client: Tx | Db = db): Promise<bigint> {
      const row = await client.ledgerAccount.findUnique({
        where: { ownerId_kind_currency: { ownerId: account.ownerId, kind: account.kind, currency: account.currency } },
        select: { balance: true },
      });
      return row?.balance ?? 0n;
    },
  };
}
export type LedgerRepository = ReturnType<typeof ledgerRepository>;
