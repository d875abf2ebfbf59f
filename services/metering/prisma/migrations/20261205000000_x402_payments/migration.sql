-- CreateTable
CREATE TABLE "x402_payments" (
    "usage_id" UUID NOT NULL,
    "agent_id" TEXT NOT NULL,
    "x402_version" INTEGER NOT NULL,
    "network" TEXT NOT NULL,
    "asset" TEXT NOT NULL,
    "pay_to" TEXT NOT NULL,
    "amount_micros" BIGINT NOT NULL,
    "nonce" TEXT NOT NULL,
    "valid_after" BIGINT NOT NULL,
    "valid_before" BIGINT NOT NULL,
    "challenge" JSONB NOT NULL,
    "header_name" TEXT,
    "header_value" TEXT,
    "status" TEXT NOT NULL,
    "payer" TEXT,
    "transaction" TEXT,
    "error_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "x402_payments_pkey" PRIMARY KEY ("usage_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "x402_payments_nonce_key" ON "x402_payments"("nonce");

-- CreateIndex
CREATE INDEX "x402_payments_status_created_at_idx" ON "x402_payments"("status", "created_at");
