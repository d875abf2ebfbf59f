-- CreateTable
CREATE TABLE "service_prices" (
    "service_id" TEXT NOT NULL,
    "provider_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "price_micros" BIGINT NOT NULL,
    "payment_method" TEXT NOT NULL,
    "free_tier_calls" INTEGER NOT NULL,
    "status" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "event_time" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "service_prices_pkey" PRIMARY KEY ("service_id")
);

-- CreateTable
CREATE TABLE "free_tier_usage" (
    "buyer_id" TEXT NOT NULL,
    "service_id" TEXT NOT NULL,
    "used" INTEGER NOT NULL,

    CONSTRAINT "free_tier_usage_pkey" PRIMARY KEY ("buyer_id","service_id")
);

-- CreateTable
CREATE TABLE "usage_records" (
    "id" UUID NOT NULL,
    "buyer_id" TEXT NOT NULL,
    "service_id" TEXT NOT NULL,
    "provider_id" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "amount_micros" BIGINT NOT NULL,
    "free_tier" BOOLEAN NOT NULL,
    "payment_method" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "status_code" INTEGER,
    "latency_ms" INTEGER,
    "refund" TEXT NOT NULL DEFAULT 'none',
    "idempotency_key" TEXT,
    "response_headers" JSONB,
    "response_body" BYTEA,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "usage_records_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "usage_records_buyer_id_created_at_idx" ON "usage_records"("buyer_id", "created_at");

-- CreateIndex
CREATE INDEX "usage_records_status_created_at_idx" ON "usage_records"("status", "created_at");

-- CreateIndex
CREATE INDEX "usage_records_refund_idx" ON "usage_records"("refund");

-- CreateIndex
CREATE UNIQUE INDEX "usage_records_buyer_id_idempotency_key_key" ON "usage_records"("buyer_id", "idempotency_key");

-- Outbox and consumer dedup (same in every service; @platform/events OUTBOX_MIGRATION_SQL)
CREATE TABLE "outbox_events" (
    "seq" BIGSERIAL NOT NULL,
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "envelope" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3),
    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("seq")
);
CREATE UNIQUE INDEX "outbox_events_id_key" ON "outbox_events"("id");
CREATE INDEX "outbox_events_published_at_seq_idx" ON "outbox_events"("published_at", "seq");

CREATE TABLE "processed_events" (
    "event_id" UUID NOT NULL,
    "consumer" TEXT NOT NULL,
    "processed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "processed_events_pkey" PRIMARY KEY ("event_id","consumer")
);
