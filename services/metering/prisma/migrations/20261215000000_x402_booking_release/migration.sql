-- A refused (or never-signed) x402 payment's budget booking in wallets is released once its
-- authorization can no longer be used: when, and what wallets found.
ALTER TABLE "x402_payments" ADD COLUMN "released_at" TIMESTAMPTZ(3);
ALTER TABLE "x402_payments" ADD COLUMN "release" TEXT;
CREATE INDEX "x402_payments_unreleased_idx" ON "x402_payments" ("valid_before") WHERE "released_at" IS NULL AND "status" IN ('refused', 'reserved');
