-- Balance leases: metering takes a slice of a buyer's prepaid balance once (`POST
-- /internal/leases`), spends it call by call itself, posts the per-call charges against the
-- lease in batches and finally closes it, which gives the unspent rest back.
--
-- The leased money sits in a ledger account of the new kind `balance_lease` (owner = the lease
-- id, USDC): escrow that only lease debits take from (the guarded posting of `ledger_debit`,
-- unchanged: which account is guarded is decided in TypeScript) and that only the close empties.
-- It is never negative, like buyer_balance and session_balance. Entry kinds `lease` (buyer →
-- lease, key `lease:<id>`) and `lease_release` (lease → buyer, key `lease_release:<id>`) are
-- not constrained in the database (ledger_entries.kind has no CHECK).
--
-- balance_leases: one row per lease; `released_micros` and `closed_at` are set by the close,
-- in the transaction that moves the rest back. Rows are never deleted and `buyer_id` never
-- changes (the service caches it). The partial index serves the buyer's balance (buyer_balance
-- plus the open leases' accounts), which Prisma's schema language cannot declare.

-- CreateTable
CREATE TABLE "balance_leases" (
    "id" UUID NOT NULL,
    "buyer_id" TEXT NOT NULL,
    "granted_micros" BIGINT NOT NULL,
    "released_micros" BIGINT,
    "state" TEXT NOT NULL DEFAULT 'open',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closed_at" TIMESTAMPTZ(3),

    CONSTRAINT "balance_leases_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "balance_leases_buyer_id_open_idx" ON "balance_leases"("buyer_id") WHERE "state" = 'open';

-- Invariants Prisma's schema language cannot express (kept only here, like the ledger's).
ALTER TABLE "balance_leases" ADD CONSTRAINT "balance_leases_granted_check" CHECK ("granted_micros" > 0);
ALTER TABLE "balance_leases" ADD CONSTRAINT "balance_leases_state_check" CHECK ("state" IN ('open', 'closed'));
-- A closed lease says what went back; an open one has not given anything back yet.
ALTER TABLE "balance_leases" ADD CONSTRAINT "balance_leases_closed_check" CHECK (
    ("state" = 'open' AND "released_micros" IS NULL AND "closed_at" IS NULL)
    OR ("state" = 'closed' AND "released_micros" IS NOT NULL AND "released_micros" >= 0 AND "released_micros" <= "granted_micros" AND "closed_at" IS NOT NULL)
);

-- The ledger's non-negative CHECK (last replaced by 20261206000000_agent_wallets_sessions)
-- grows with the new guarded kind; src/domain/ledger.ts NON_NEGATIVE_KINDS mirrors it.
ALTER TABLE "ledger_accounts" DROP CONSTRAINT "ledger_accounts_non_negative_check";
ALTER TABLE "ledger_accounts" ADD CONSTRAINT "ledger_accounts_non_negative_check"
    CHECK ("kind" NOT IN ('buyer_balance', 'credits', 'session_balance', 'balance_lease') OR "balance" >= 0);
