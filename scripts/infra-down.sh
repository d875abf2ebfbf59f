#!/usr/bin/env bash
# Stops what infra-up started for this repo: Kafka and the local chain. PostgreSQL and Redis
# are shared machine services, so they stay up.
set -euo pipefail
"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/infra-kafka.sh" stop
"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/infra-chain.sh" stop
