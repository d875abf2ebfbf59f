-- Spec 001 organizations (one per user, invitations), departments with a read model of
-- wallets' agents and their spend; spec 002 agent reputation score.

-- DropIndex
DROP INDEX "org_members_user_id_idx";

-- CreateIndex
CREATE UNIQUE INDEX "org_members_user_id_key" ON "org_members"("user_id");

-- AlterTable
ALTER TABLE "agents" ADD COLUMN "reputation_score" DOUBLE PRECISION NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "org_invitations" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "invited_by" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "accepted_at" TIMESTAMPTZ(3),
    "accepted_by" UUID,

    CONSTRAINT "org_invitations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "departments" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "budget_limit" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "departments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "wallet_agents" (
    "agent_id" TEXT NOT NULL,
    "org_id" TEXT,
    "owner_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "department_id" UUID,
    "wallet_address" TEXT,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "event_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "wallet_agents_pkey" PRIMARY KEY ("agent_id")
);

-- CreateTable
CREATE TABLE "agent_payments" (
    "payment_id" TEXT NOT NULL,
    "agent_id" TEXT NOT NULL,
    "org_id" TEXT NOT NULL,
    "department_id" UUID,
    "amount_micros" BIGINT NOT NULL,
    "paid_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "agent_payments_pkey" PRIMARY KEY ("payment_id")
);

-- CreateIndex
CREATE INDEX "org_invitations_email_idx" ON "org_invitations"("email");

-- CreateIndex
CREATE UNIQUE INDEX "org_invitations_org_id_email_key" ON "org_invitations"("org_id", "email");

-- CreateIndex
CREATE UNIQUE INDEX "departments_org_id_name_key" ON "departments"("org_id", "name");

-- CreateIndex
CREATE INDEX "wallet_agents_department_id_idx" ON "wallet_agents"("department_id");

-- CreateIndex
CREATE INDEX "wallet_agents_org_id_idx" ON "wallet_agents"("org_id");

-- CreateIndex
CREATE INDEX "agent_payments_department_id_idx" ON "agent_payments"("department_id");

-- CreateIndex
CREATE INDEX "agent_payments_org_id_department_id_idx" ON "agent_payments"("org_id", "department_id");

-- AddForeignKey
ALTER TABLE "org_invitations" ADD CONSTRAINT "org_invitations_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "departments" ADD CONSTRAINT "departments_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "wallet_agents" ADD CONSTRAINT "wallet_agents_department_id_fkey" FOREIGN KEY ("department_id") REFERENCES "departments"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agent_payments" ADD CONSTRAINT "agent_payments_department_id_fkey" FOREIGN KEY ("department_id") REFERENCES "departments"("id") ON DELETE SET NULL ON UPDATE CASCADE;
