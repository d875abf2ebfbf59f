-- docker-compose (fleet mode): one database per service, created on the volume's first start.
-- Keep in step with the service list in scripts/infra-postgres.sh.
CREATE DATABASE platform_identity;
CREATE DATABASE platform_wallets;
CREATE DATABASE platform_marketplace;
CREATE DATABASE platform_metering;
CREATE DATABASE platform_reputation;
CREATE DATABASE platform_settlements;
CREATE DATABASE platform_runtime;
CREATE DATABASE platform_webhooks;
