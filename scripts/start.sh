#!/usr/bin/env bash
# Standalone mode: the gateway and all eight services in one process with embedded
# PGlite databases, an in-process bus and an in-memory rate limiter. Any real part whose
# address is configured (the services' DATABASE_URLs, KAFKA_BROKERS, REDIS_URL) is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node --import tsx infra/standalone/src/main.ts
