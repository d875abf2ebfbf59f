-- Balance leases (README "Balance leases"): a paid call on the prepaid balance spends a lease held
-- in Redis instead of waiting for a wallets debit, and writes its record once, completed, with the
-- lease id; the charges are posted to wallets against the lease behind the request.

-- CreateTable
CREATE TABLE "leases" (
    "id" UUID NOT NULL,
    "buyer_id" TEXT NOT NULL,
    "granted_micros" BIGINT NOT NULL DEFAULT 0,
    "state" TEXT NOT NULL DEFAULT 'open',
    "spend_until" TIMESTAMPTZ(3) NOT NULL,
    "released_micros" BIGINT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closed_at" TIMESTAMPTZ(3),

    CONSTRAINT "leases_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "leases_state_check" CHECK ("state" IN ('open', 'closing', 'closed')),
    CONSTRAINT "leases_granted_check" CHECK ("granted_micros" >= 0)
);

-- CreateIndex
CREATE INDEX "leases_state_spend_until_idx" ON "leases"("state", "spend_until");

-- AlterTable
ALTER TABLE "usage_records" ADD COLUMN "lease_id" UUID,
    ADD COLUMN "lease_charge" TEXT NOT NULL DEFAULT 'none',
    ADD CONSTRAINT "usage_records_lease_charge_check" CHECK ("lease_charge" IN ('none', 'pending', 'done', 'short'));

-- The settler's queue: records whose charge still has to reach wallets.
CREATE INDEX "usage_records_lease_pending_idx" ON "usage_records"("lease_id") WHERE "lease_charge" = 'pending';
