-- Credits and Stripe (spec 000): Stripe customers with a saved payment method, credit
-- purchases, handled Stripe events, and consumption shortfalls. The credits themselves move
-- only in the ledger (ledger_entries kinds credit_purchase and credit_consumption).

-- CreateTable
CREATE TABLE "stripe_customers" (
    "owner_id" TEXT NOT NULL,
    "customer_id" TEXT NOT NULL,
    "default_payment_method" TEXT,
    "payment_method_updated_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stripe_customers_pkey" PRIMARY KEY ("owner_id")
);

-- CreateTable
CREATE TABLE "credit_purchases" (
    "id" UUID NOT NULL,
    "owner_id" TEXT NOT NULL,
    "pack_id" TEXT NOT NULL,
    "credits" BIGINT NOT NULL,
    "amount_cents" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "idempotency_key" TEXT,
    "customer_id" TEXT NOT NULL,
    "checkout_session_id" TEXT,
    "payment_url" TEXT,
    "expires_at" TIMESTAMPTZ(3),
    "payment_intent_id" TEXT,
    "failure_reason" TEXT,
    "ledger_entry_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "credit_purchases_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stripe_events" (
    "event_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "purchase_id" UUID,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stripe_events_pkey" PRIMARY KEY ("event_id")
);

-- CreateTable
CREATE TABLE "credit_shortfalls" (
    "source_event_id" UUID NOT NULL,
    "owner_id" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "credits" BIGINT NOT NULL,
    "balance" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_shortfalls_pkey" PRIMARY KEY ("source_event_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "stripe_customers_customer_id_key" ON "stripe_customers"("customer_id");

-- CreateIndex
CREATE UNIQUE INDEX "credit_purchases_checkout_session_id_key" ON "credit_purchases"("checkout_session_id");

-- CreateIndex
CREATE INDEX "credit_purchases_owner_id_created_at_idx" ON "credit_purchases"("owner_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "credit_purchases_owner_id_idempotency_key_key" ON "credit_purchases"("owner_id", "idempotency_key");

-- CreateIndex
CREATE INDEX "credit_shortfalls_owner_id_created_at_idx" ON "credit_shortfalls"("owner_id", "created_at");

-- Invariants Prisma's schema language cannot express (kept only here, like the ledger's):
-- amounts are positive, statuses and methods are closed sets.
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_amounts_check"
    CHECK ("credits" > 0 AND "amount_cents" > 0);
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_status_check"
    CHECK ("status" IN ('created', 'pending_payment', 'completed', 'expired'));
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_method_check"
    CHECK ("method" IN ('saved_payment_method', 'checkout'));
ALTER TABLE "credit_shortfalls" ADD CONSTRAINT "credit_shortfalls_credits_check"
    CHECK ("credits" > 0 AND "balance" >= 0);
