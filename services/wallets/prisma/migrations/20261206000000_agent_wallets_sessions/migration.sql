-- Spec 001 agent wallets on chain: wallets with their policies, their transactions, payment
-- sessions, spend counters for policy limits, the key-export audit and on-ramp sessions.
-- Money still moves only in the ledger (new kinds: agent_wallet, session_balance, platform_gas;
-- new currency ETH, in gwei).

-- CreateTable
CREATE TABLE "agent_wallets" (
    "id" UUID NOT NULL,
    "account_id" TEXT NOT NULL,
    "org_id" TEXT,
    "owner_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "wallet_address" TEXT NOT NULL,
    "encrypted_key" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "department_id" TEXT,
    "spending_cap" BIGINT,
    "daily_limit" BIGINT,
    "monthly_limit" BIGINT,
    "per_call_max" BIGINT,
    "allowed_services" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "blocked_services" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "require_session" BOOLEAN NOT NULL DEFAULT false,
    "auto_topup_threshold" BIGINT,
    "auto_topup_amount" BIGINT,
    "auto_topup_source" TEXT,
    "gas_sponsored_at" TIMESTAMPTZ(3),
    "topup_claimed_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deactivated_at" TIMESTAMPTZ(3),

    CONSTRAINT "agent_wallets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "wallet_transactions" (
    "id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "account_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "tx_hash" TEXT,
    "reference" TEXT,
    "from_address" TEXT NOT NULL,
    "to_address" TEXT NOT NULL,
    "amount" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "ledger_entry_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "wallet_transactions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "payment_sessions" (
    "id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "account_id" TEXT NOT NULL,
    "deposit_amount" BIGINT NOT NULL,
    "used_amount" BIGINT NOT NULL DEFAULT 0,
    "call_count" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL,
    "duration_s" INTEGER NOT NULL,
    "deposit_nonce" TEXT NOT NULL,
    "deposit_tx_hash" TEXT,
    "refund_nonce" TEXT,
    "refunded_amount" BIGINT,
    "refund_tx_hash" TEXT,
    "failure_reason" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "closed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agent_spend" (
    "agent_id" UUID NOT NULL,
    "period" TEXT NOT NULL,
    "spent" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "agent_spend_pkey" PRIMARY KEY ("agent_id","period")
);

-- CreateTable
CREATE TABLE "agent_key_audit" (
    "id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "actor_id" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "request_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agent_key_audit_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "onramp_sessions" (
    "id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "account_id" TEXT NOT NULL,
    "actor_id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "amount_usd" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "onramp_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "agent_wallets_wallet_address_key" ON "agent_wallets"("wallet_address");

-- CreateIndex
CREATE INDEX "agent_wallets_account_id_created_at_idx" ON "agent_wallets"("account_id", "created_at");

-- CreateIndex
CREATE INDEX "agent_wallets_department_id_idx" ON "agent_wallets"("department_id");

-- CreateIndex
CREATE INDEX "wallet_transactions_agent_id_created_at_idx" ON "wallet_transactions"("agent_id", "created_at");

-- CreateIndex
CREATE INDEX "wallet_transactions_account_id_created_at_idx" ON "wallet_transactions"("account_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "wallet_transactions_tx_hash_type_key" ON "wallet_transactions"("tx_hash", "type");

-- CreateIndex
CREATE UNIQUE INDEX "wallet_transactions_agent_id_type_reference_key" ON "wallet_transactions"("agent_id", "type", "reference");

-- CreateIndex
CREATE INDEX "payment_sessions_account_id_created_at_idx" ON "payment_sessions"("account_id", "created_at");

-- CreateIndex
CREATE INDEX "payment_sessions_agent_id_created_at_idx" ON "payment_sessions"("agent_id", "created_at");

-- CreateIndex
CREATE INDEX "agent_key_audit_agent_id_created_at_idx" ON "agent_key_audit"("agent_id", "created_at");

-- CreateIndex
CREATE INDEX "onramp_sessions_agent_id_created_at_idx" ON "onramp_sessions"("agent_id", "created_at");

-- Invariants Prisma's schema language cannot express (kept only here, like the ledger's).
ALTER TABLE "payment_sessions" ADD CONSTRAINT "payment_sessions_amounts_check"
    CHECK ("deposit_amount" > 0 AND "used_amount" >= 0 AND "used_amount" <= "deposit_amount" AND "call_count" >= 0);
ALTER TABLE "payment_sessions" ADD CONSTRAINT "payment_sessions_status_check"
    CHECK ("status" IN ('opening', 'open', 'closing', 'closed', 'failed'));
ALTER TABLE "wallet_transactions" ADD CONSTRAINT "wallet_transactions_type_check"
    CHECK ("type" IN ('fund', 'onramp', 'auto_topup', 'gas_sponsor', 'drain', 'payment', 'session_deposit', 'session_refund'));
ALTER TABLE "agent_spend" ADD CONSTRAINT "agent_spend_non_negative_check" CHECK ("spent" >= 0);

-- The ledger's own constraints grow with the new kinds: a session's balance never goes
-- negative (debited only by the conditional UPDATE, like buyer balances), and gas sponsorship
-- is posted in ETH (amounts in gwei).
ALTER TABLE "ledger_accounts" DROP CONSTRAINT "ledger_accounts_non_negative_check";
ALTER TABLE "ledger_accounts" ADD CONSTRAINT "ledger_accounts_non_negative_check"
    CHECK ("kind" NOT IN ('buyer_balance', 'credits', 'session_balance') OR "balance" >= 0);
ALTER TABLE "ledger_accounts" DROP CONSTRAINT "ledger_accounts_currency_check";
ALTER TABLE "ledger_accounts" ADD CONSTRAINT "ledger_accounts_currency_check"
    CHECK ("currency" IN ('USDC', 'CREDIT', 'ETH'));
