#!/usr/bin/env bash
# Stops what infra-up started for this repo: only Kafka. PostgreSQL and Redis are shared
# machine services, so they stay up.
set -euo pipefail
"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/infra-kafka.sh" stop
