-- CreateTable
CREATE TABLE "provider_usage" (
    "usage_id" TEXT NOT NULL,
    "provider_id" TEXT NOT NULL,
    "service_id" TEXT NOT NULL,
    "buyer_id" TEXT NOT NULL,
    "amount_micros" BIGINT NOT NULL,
    "free_tier" BOOLEAN NOT NULL,
    "payment_method" TEXT NOT NULL,
    "status_code" INTEGER NOT NULL,
    "latency_ms" INTEGER NOT NULL,
    "called_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "provider_usage_pkey" PRIMARY KEY ("usage_id")
);

-- CreateIndex
CREATE INDEX "provider_usage_provider_id_called_at_idx" ON "provider_usage"("provider_id", "called_at");

-- CreateIndex
CREATE INDEX "provider_usage_service_id_idx" ON "provider_usage"("service_id");

-- CreateIndex
CREATE INDEX "provider_usage_called_at_idx" ON "provider_usage"("called_at");

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
