#!/usr/bin/env bash
# npm run bench: set-up, the real parts (PostgreSQL, Redis, Kafka), then bench/run.ts, which starts
# every process it measures, prints the table and writes bench/results/latest.md.
# Durations and sizes: BENCH_SECONDS, BENCH_ROUNDS, BENCH_WARMUP_SECONDS, BENCH_CONNECTIONS, … (README "Benchmark").
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/infra-up.sh

cd bench
exec node --import tsx run.ts
