#!/usr/bin/env bash
# Everything a fresh clone needs before it can run: pnpm, dependencies, Prisma clients.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm --version 2>/dev/null)" != 10.* ]]; then
  # corepack cannot verify signatures against this registry (DESIGN.md), so npm installs pnpm.
  echo "› installing pnpm@${PNPM_VERSION} with npm"
  npm install -g "pnpm@${PNPM_VERSION}" --no-fund --no-audit >/dev/null 2>&1 || {
    echo "✗ could not install pnpm with npm; install pnpm 10 and retry" >&2
    exit 1
  }
fi

if [[ ! -d node_modules/.pnpm ]] || [[ pnpm-lock.yaml -nt node_modules/.modules.yaml ]]; then
  echo "› installing dependencies (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile --reporter=silent
fi

echo "› generating Prisma clients"
node scripts/prisma-generate.cjs
