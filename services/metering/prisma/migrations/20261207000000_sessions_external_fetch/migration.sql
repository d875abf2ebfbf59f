-- Spec 001 session-paid calls and external fetch: slugs and endpoint hosts in the price list,
-- and what a call was charged before forwarding, its agent and session, in its usage record.

-- AlterTable
ALTER TABLE "service_prices" ADD COLUMN "slug" TEXT NOT NULL DEFAULT '',
ADD COLUMN "endpoint_host" TEXT NOT NULL DEFAULT '';

-- Backfill rows written before these columns (new events recompute both in code).
UPDATE "service_prices" SET
  "slug" = trim(both '-' from regexp_replace(lower("name"), '[^a-z0-9]+', '-', 'g')),
  "endpoint_host" = coalesce(lower(substring("endpoint" from '^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]+)')), '');

-- CreateIndex
CREATE INDEX "service_prices_slug_idx" ON "service_prices"("slug");

-- CreateIndex
CREATE INDEX "service_prices_endpoint_host_idx" ON "service_prices"("endpoint_host");

-- AlterTable
ALTER TABLE "usage_records" ADD COLUMN "charge_method" TEXT,
ADD COLUMN "channel" TEXT NOT NULL DEFAULT 'proxy',
ADD COLUMN "agent_id" TEXT,
ADD COLUMN "session_id" TEXT,
ADD COLUMN "session_remaining_micros" BIGINT;

UPDATE "usage_records" SET "charge_method" = "payment_method";
ALTER TABLE "usage_records" ALTER COLUMN "charge_method" SET NOT NULL;
