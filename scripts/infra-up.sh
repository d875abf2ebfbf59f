#!/usr/bin/env bash
# Brings up the real parts for fleet mode and tests: PostgreSQL (+ a database per service),
# Redis, Kafka (+ topics), the local EVM chain (Hardhat node + test USDC). Each is reused when it
# already answers.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
t0=$SECONDS

"$DIR/infra-postgres.sh" ensure-dbs "${DB_PREFIX:-platform}"
"$DIR/infra-redis.sh"
"$DIR/infra-kafka.sh" start
"$DIR/infra-kafka.sh" topics >/dev/null
"$DIR/infra-chain.sh" start

echo "infra up in $((SECONDS - t0))s: postgres postgresql://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/${DB_PREFIX:-platform}_<service>" \
  "| redis ${REDIS_URL:-redis://127.0.0.1:6379} | kafka 127.0.0.1:${KAFKA_PORT:-9092} ($(grep -cv '^\s*\(#\|$\)' "$DIR/../infra/kafka/topics.txt") topics)" \
  "| chain http://127.0.0.1:${CHAIN_PORT:-8545} (31337)"
