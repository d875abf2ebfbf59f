-- A refund that finds no debit voids the usage id, so a debit arriving later is refused
-- (metering timed out on a slow debit and asked for it back: the buyer must not pay).

-- CreateTable
CREATE TABLE "debit_voids" (
    "usage_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "debit_voids_pkey" PRIMARY KEY ("usage_id")
);
