import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import type { Pool } from 'pg';
import { prepared } from '@platform/db';
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
  /** Refuse a usage id a balance refund voided (balance debits); session debits look at their session's voids instead. */
  checkVoid?: boolean;
  /** A session debit: also counted on the session (and refused when voided for it), in the same statement. */
  session?: {
    sessionId: string;
    now: Date;
  };
  /** The paying agent (every session debit; a balance debit given an agent id): its verdict and spend, in the same statement. */
  agent?: {
    agentId: string;
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
  /** Session debits: `session_expired`, `session_closed`; with an agent: the caller's policy refusal, or a spend limit's code (with `spent`/`limit`). */
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

/** A JSON array member of a batch item as a PostgreSQL array (NULL when absent), order kept. */
const jsonArray = (name: string, type: string) =>
  `CASE WHEN jsonb_typeof(x->'${name}') = 'array' THEN ARRAY(SELECT e.v FROM jsonb_array_elements_text(x->'${name}') WITH ORDINALITY AS e("v", "o") ORDER BY e."o")::${type}[] END`;

/** ledger_debit's arguments beyond the entry itself: postings in lock order, session and agent terms. */
function debitArgs(d: DebitEntry) {
  assertBalanced(d.postings);
  const ordered = lockOrder(d.postings);
  const s = d.session;
  const a = d.agent;
  return {
    owners: ordered.map((p) => p.account.ownerId),
    kinds: ordered.map((p) => p.account.kind),
    amounts: ordered.map((p) => p.amount.toString()),
    guarded: ordered.map((p) => p.amount < 0n && NON_NEGATIVE_KINDS.has(p.account.kind)),
    currency: ordered[0].account.currency,
    checkVoid: d.checkVoid ?? true,
    sessionId: s?.sessionId ?? null,
    now: s?.now ?? null,
    refusal: a?.refusal ?? null,
    agentId: a?.agentId ?? null,
    periods: a ? a.periods.map((p) => p.period) : null,
    limits: a ? a.periods.map((p) => (p.limit === null ? null : p.limit.toString())) : null,
    codes: a ? a.periods.map((p) => p.code) : null,
  };
}

/** One ledger_debit row as the outcome the services read. */
function debitOutcome(d: DebitEntry, r: DebitRow): DebitOutcome {
  const ordered = lockOrder(d.postings);
  const guarded = ordered.find((p) => p.amount < 0n && NON_NEGATIVE_KINDS.has(p.account.kind));
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
}


/** Prisma's "Transaction API error" (no connection in time, or the transaction timed out): transient. */
const isTransactionTimeout = (err: unknown) => (err as { code?: string } | null)?.code === 'P2028';

export interface LedgerOptions {
  /** Ledger transactions allowed at once; keep it below the connection pool's size. */
  maxConcurrentTx: number;
  /** Transactions allowed to wait for a slot before new ones are refused with 503. */
  maxQueuedTx: number;
  /**
   * A plain pg pool for the per-call debit statements (metering's hot path): the same SQL costs
   * a fraction of the CPU it costs through Prisma. Without it they go through Prisma's pool.
   */
  pool?: Pool;
}

export function ledgerRepository(db: Db, opts: LedgerOptions) {
  const bulkhead = new Bulkhead(opts.maxConcurrentTx, opts.maxQueuedTx);
  const hot = async <T>(sql: string, params: unknown[]): Promise<T[]> => (opts.pool ? (await opts.pool.query(prepared(sql, params))).rows : db.$queryRawUnsafe<T[]>(sql, ...params));

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
      const a = debitArgs(d);
      const rows = await bulkhead.run(() =>
        hot<DebitRow>(
          `SELECT "status", "entry_id"::text AS "entry_id", "metadata", "owners", "kinds", "balances_after"::text[] AS "balances_after", "available"::text AS "available",
                  "session_used"::text AS "session_used", "session_calls", "refusal", "spent"::text AS "spent", "spend_limit"::text AS "spend_limit"
             FROM "ledger_debit"($1, $2::uuid, $3, 'payment', $4::jsonb, $5::text[], $6::text[], $7::bigint[], $8::boolean[], $9, $10::jsonb, $11,
                                 $12::uuid, $13::timestamptz, $14::text, $15::uuid, $16::text[], $17::bigint[], $18::text[])`,
          [d.usageId, d.entryId, d.idempotencyKey, JSON.stringify(d.metadata), a.owners, a.kinds, a.amounts, a.guarded, a.currency, JSON.stringify(d.envelope), a.checkVoid,
           a.sessionId, a.now, a.refusal, a.agentId, a.periods, a.limits, a.codes],
        ),
      );
      if (!rows[0]) throw new Error(`ledger_debit returned nothing for ${d.idempotencyKey}`);
      return debitOutcome(d, rows[0]);
    },

    /**
     * Several per-call debits in ONE statement: `ledger_debit` once per entry, in order, in one
     * transaction (each call sees the ones before it), so a batch of N calls costs one round
     * trip. A refusal is a row like any other; an error fails the whole statement (the caller
     * then debits one at a time).
     */
    async debitMany(ds: DebitEntry[]): Promise<DebitOutcome[]> {
      const items = ds.map((d) => {
        const a = debitArgs(d);
        return { ...a, usage_id: d.usageId, entry_id: d.entryId, key: d.idempotencyKey, metadata: d.metadata, envelope: d.envelope, now: a.now?.toISOString() ?? null };
      });
      const rows = await bulkhead.run(() =>
        hot<DebitRow & { ord: string }>(
          `SELECT j."ord", r."status", r."entry_id"::text AS "entry_id", r."metadata", r."owners", r."kinds", r."balances_after"::text[] AS "balances_after",
                  r."available"::text AS "available", r."session_used"::text AS "session_used", r."session_calls", r."refusal", r."spent"::text AS "spent",
                  r."spend_limit"::text AS "spend_limit"
             FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j("x", "ord")
            CROSS JOIN LATERAL "ledger_debit"(
              x->>'usage_id', (x->>'entry_id')::uuid, x->>'key', 'payment', x->'metadata',
              ${jsonArray('owners', 'text')}, ${jsonArray('kinds', 'text')}, ${jsonArray('amounts', 'bigint')}, ${jsonArray('guarded', 'boolean')},
              x->>'currency', x->'envelope', (x->>'checkVoid')::boolean,
              (x->>'sessionId')::uuid, (x->>'now')::timestamptz, x->>'refusal', (x->>'agentId')::uuid,
              ${jsonArray('periods', 'text')}, ${jsonArray('limits', 'bigint')}, ${jsonArray('codes', 'text')}) AS r
            ORDER BY j."ord"`,
          [JSON.stringify(items)],
        ),
      );
      if (rows.length !== ds.length) throw new Error(`ledger_debit answered ${rows.length} rows for ${ds.length} debits`);
      return rows.map((r, i) => debitOutcome(ds[i], r));
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

    /**
     * The same transaction-scoped lock for one signed EIP-3009 authorization (agent, nonce):
     * its booking and its void serialize, so a void that finds nothing and a booking racing it
     * cannot both commit unaware of each other.
     */
    async lockAuthorization(client: Tx | SqlClient, agentId: string, nonce: string): Promise<void> {
      await asTx(client).$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`x402:${agentId}:${nonce}`}, 0))`;
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

    /**
     * Locks the account's row for the rest of `tx` and answers its balance (zero, and nothing
     * locked, when it was never posted to). A caller locking several takes them in lockOrder.
     */
    async lockBalance(client: Tx | SqlClient, account: AccountRef): Promise<bigint> {
      const rows = await asTx(client).$queryRaw<{ balance: string }[]>`
        SELECT "balance"::text AS "balance" FROM "ledger_accounts"
         WHERE "owner_id" = ${account.ownerId} AND "kind" = ${account.kind} AND "currency" = ${account.currency} FOR UPDATE`;
      return rows.length ? BigInt(rows[0].balance) : 0n;
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
