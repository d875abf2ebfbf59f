-- Discovery: full-text search over the registry. name weighs A, tags B, description C, so a
-- name match ranks above a description match. A trigger keeps the column (array_to_string is
-- not IMMUTABLE, so a generated column cannot use it); the GIN index serves `@@` queries.
ALTER TABLE "services" ADD COLUMN "search_vector" tsvector;

CREATE FUNCTION "services_search_vector"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW."search_vector" :=
    setweight(to_tsvector('english'::regconfig, coalesce(NEW."name", '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(array_to_string(NEW."tags", ' '), '')), 'B') ||
    setweight(to_tsvector('english'::regconfig, coalesce(NEW."description", '')), 'C');
  RETURN NEW;
END
$$;

CREATE TRIGGER "services_search_vector_trg"
  BEFORE INSERT OR UPDATE OF "name", "tags", "description" ON "services"
  FOR EACH ROW EXECUTE FUNCTION "services_search_vector"();

-- Rows registered before this migration get their document too.
UPDATE "services" SET "name" = "name";

-- CreateIndex
CREATE INDEX "services_search_vector_idx" ON "services" USING GIN ("search_vector");

-- CreateIndex
CREATE INDEX "services_tags_idx" ON "services" USING GIN ("tags");

-- CreateTable
CREATE TABLE "service_usage_daily" (
    "service_id" UUID NOT NULL,
    "day" DATE NOT NULL,
    "provider_id" TEXT NOT NULL,
    "call_count" INTEGER NOT NULL DEFAULT 0,
    "success_count" INTEGER NOT NULL DEFAULT 0,
    "latency_total_ms" BIGINT NOT NULL DEFAULT 0,
    "revenue_micros" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "service_usage_daily_pkey" PRIMARY KEY ("service_id","day")
);

-- CreateTable
CREATE TABLE "buyer_service_usage" (
    "buyer_id" TEXT NOT NULL,
    "service_id" UUID NOT NULL,
    "call_count" INTEGER NOT NULL DEFAULT 0,
    "first_called_at" TIMESTAMPTZ(3) NOT NULL,
    "last_called_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "buyer_service_usage_pkey" PRIMARY KEY ("buyer_id","service_id")
);

-- CreateTable
CREATE TABLE "provider_milestones" (
    "provider_id" TEXT NOT NULL,
    "first_key_at" TIMESTAMPTZ(3),
    "first_call_at" TIMESTAMPTZ(3),
    "first_settlement_at" TIMESTAMPTZ(3),

    CONSTRAINT "provider_milestones_pkey" PRIMARY KEY ("provider_id")
);

-- CreateTable
CREATE TABLE "agents" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "as_of" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "plugins" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "tools" JSONB NOT NULL DEFAULT '[]',
    "install_count" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "plugins_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "plugin_installs" (
    "id" TEXT NOT NULL,
    "agent_id" TEXT NOT NULL,
    "plugin_id" TEXT NOT NULL,
    "installed_by" TEXT NOT NULL,
    "installed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "plugin_installs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "teams" (
    "id" UUID NOT NULL,
    "owner_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "config" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "teams_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "team_members" (
    "id" UUID NOT NULL,
    "team_id" UUID NOT NULL,
    "agent_id" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'worker',
    "skills" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "joined_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "team_members_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "team_routing_rules" (
    "id" UUID NOT NULL,
    "team_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "keywords" TEXT[],
    "target_agent_id" TEXT NOT NULL,
    "priority" INTEGER NOT NULL DEFAULT 0,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "team_routing_rules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "team_quality_gates" (
    "id" UUID NOT NULL,
    "team_id" UUID NOT NULL,
    "gate_type" TEXT NOT NULL,
    "threshold" DOUBLE PRECISION NOT NULL,
    "gate_order" INTEGER NOT NULL DEFAULT 0,
    "config" JSONB NOT NULL DEFAULT '{}',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "team_quality_gates_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "service_usage_daily_day_idx" ON "service_usage_daily"("day");

-- CreateIndex
CREATE INDEX "service_usage_daily_provider_id_idx" ON "service_usage_daily"("provider_id");

-- CreateIndex
CREATE INDEX "agents_owner_id_idx" ON "agents"("owner_id");

-- CreateIndex
CREATE INDEX "plugin_installs_plugin_id_idx" ON "plugin_installs"("plugin_id");

-- CreateIndex
CREATE UNIQUE INDEX "plugin_installs_agent_id_plugin_id_key" ON "plugin_installs"("agent_id", "plugin_id");

-- CreateIndex
CREATE INDEX "teams_owner_id_status_created_at_idx" ON "teams"("owner_id", "status", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "team_members_team_id_agent_id_key" ON "team_members"("team_id", "agent_id");

-- CreateIndex
CREATE INDEX "team_routing_rules_team_id_priority_idx" ON "team_routing_rules"("team_id", "priority");

-- CreateIndex
CREATE INDEX "team_quality_gates_team_id_gate_order_idx" ON "team_quality_gates"("team_id", "gate_order");

-- AddForeignKey
ALTER TABLE "plugin_installs" ADD CONSTRAINT "plugin_installs_plugin_id_fkey" FOREIGN KEY ("plugin_id") REFERENCES "plugins"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "team_members" ADD CONSTRAINT "team_members_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "team_routing_rules" ADD CONSTRAINT "team_routing_rules_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "team_quality_gates" ADD CONSTRAINT "team_quality_gates_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The plugin registry starts with the capability packages the runtime knows how to provide.
INSERT INTO "plugins" ("id", "name", "version", "description", "tools") VALUES
  ('web-search-v2', 'Web Search', '2.1.0', 'Real-time web search with snippet extraction',
   '[{"name": "search_web", "description": "Search the web for a query"}]'),
  ('http-fetch-v1', 'HTTP Fetch', '1.2.0', 'Fetch a public URL through the platform''s metered, SSRF-checked proxy',
   '[{"name": "fetch_url", "description": "GET or POST a public URL and return status, headers and body"}]'),
  ('memory-kv-v1', 'Memory', '1.0.0', 'Durable key-value memory that survives restarts',
   '[{"name": "remember", "description": "Store a value under a key"}, {"name": "recall", "description": "Read the value stored under a key"}, {"name": "forget", "description": "Delete a key"}]'),
  ('workspace-files-v1', 'Workspace Files', '1.1.0', 'Read and write files in the agent''s workspace',
   '[{"name": "read_file", "description": "Read a file from the workspace"}, {"name": "write_file", "description": "Create or replace a file in the workspace"}, {"name": "list_files", "description": "List the files under a folder"}]'),
  ('marketplace-v1', 'Marketplace', '1.0.0', 'Discover paid APIs on the marketplace and call them through the payment proxy',
   '[{"name": "discover_services", "description": "Search the marketplace by text, category, tags and price"}, {"name": "call_service", "description": "Call a marketplace service through the metering proxy"}]'),
  ('scheduler-v1', 'Scheduler', '1.0.0', 'Schedule recurring work with cron expressions',
   '[{"name": "schedule_task", "description": "Run a task on a cron schedule"}, {"name": "cancel_task", "description": "Cancel a scheduled task"}]');
