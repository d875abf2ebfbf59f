#!/usr/bin/env bash
# The local EVM chain for fleet mode and tests: a Hardhat 2 node (chain id 31337, in memory,
# offline) from infra/chain, with the test USDC deployed from the treasury key.
#   scripts/infra-chain.sh start|stop|status
# start is idempotent: a node already answering at CHAIN_PORT is reused, and the token is
# deployed only when the recorded deployment has no code on that chain (a restarted node
# forgets everything). The deployment is written to $CHAIN_DATA_DIR/deployment.json
# ({chainId, rpcUrl, usdcAddress, treasuryAddress, deployTxHash}) for scripts and services.
# Env: CHAIN_PORT (8545), CHAIN_DATA_DIR (.data/chain), TREASURY_PRIVATE_KEY (default: one
#      generated once into $CHAIN_DATA_DIR/treasury.key), CHAIN_START_TIMEOUT (60 s).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHAIN_DIR="$REPO/infra/chain"
DATA="${CHAIN_DATA_DIR:-$REPO/.data/chain}"
HOST=127.0.0.1
PORT="${CHAIN_PORT:-8545}"
URL="http://$HOST:$PORT"
PIDFILE="$DATA/node.pid"
DEPLOYMENT="$DATA/deployment.json"

die() { echo "infra-chain: $*" >&2; exit 1; }
port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }
# Prints the chain id (decimal) the node at $URL reports; fails when nothing answers JSON-RPC.
chain_id() {
  local reply
  reply="$(curl -s -m 2 -H 'content-type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$URL" 2>/dev/null)" || return 1
  [[ "$reply" =~ \"result\":\"(0x[0-9a-fA-F]+)\" ]] || return 1
  echo $((BASH_REMATCH[1]))
}
answers() { [ "$(chain_id 2>/dev/null)" = 31337 ]; }
# The pid file only counts while it names a live hardhat node process (pids get reused).
running_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'hardhat.* node' && echo "$pid"
}

treasury_key() {
  if [ -n "${TREASURY_PRIVATE_KEY:-}" ]; then echo "$TREASURY_PRIVATE_KEY"; return; fi
  if [ ! -s "$DATA/treasury.key" ]; then
    (umask 077 && node -e 'console.log("0x" + require("crypto").randomBytes(32).toString("hex"))' >"$DATA/treasury.key")
  fi
  cat "$DATA/treasury.key"
}

deploy() {
  (cd "$REPO" && CHAIN_RPC_URL="$URL" TREASURY_PRIVATE_KEY="$(treasury_key)" DEPLOYMENT_FILE="$DEPLOYMENT" REUSE=true \
    node --import tsx "$CHAIN_DIR/scripts/deploy.ts") || die "deploying the test USDC to $URL failed (see above)"
}

start() {
  mkdir -p "$DATA"
  command -v node >/dev/null || die "node is not installed"
  command -v curl >/dev/null || die "curl is not installed (the readiness check uses it; apt-get install curl)"
  [ -f "$CHAIN_DIR/node_modules/hardhat/internal/cli/cli.js" ] || die "hardhat is not installed in infra/chain (run scripts/bootstrap.sh or pnpm install)"
  # Parallel callers (test workers) queue here, so only one of them launches a node.
  exec 9>"$DATA/start.lock"
  flock -w "${CHAIN_START_TIMEOUT:-60}" 9 || die "another start holds $DATA/start.lock"
  if answers; then
    echo "infra-chain: reusing the node at $URL"
  else
    local id
    id="$(chain_id 2>/dev/null)" && die "the node at $URL reports chain id $id, not 31337; stop it or set CHAIN_PORT"
    local pid
    if ! pid="$(running_pid)"; then
      port_open "$PORT" && die "port $PORT is taken by something that does not answer as an Ethereum node; set CHAIN_PORT"
      # setsid: the node must outlive the shell that started it; 9>&-: it must not hold the start lock.
      (
        cd "$CHAIN_DIR"
        HARDHAT_DISABLE_TELEMETRY_PROMPT=true FORCE_COLOR=0 setsid nohup node node_modules/hardhat/internal/cli/cli.js \
          node --hostname "$HOST" --port "$PORT" >"$DATA/node.log" 2>&1 </dev/null 9>&- &
        echo $! >"$PIDFILE"
      )
      pid="$(cat "$PIDFILE")"
    fi
    local timeout="${CHAIN_START_TIMEOUT:-60}" t0=$SECONDS
    until answers; do
      kill -0 "$pid" 2>/dev/null || { tail -n 20 "$DATA/node.log" >&2 2>/dev/null; die "the hardhat node (pid $pid) exited during start-up; log above"; }
      ((SECONDS - t0 < timeout)) || die "the hardhat node (pid $pid) did not answer eth_chainId at $URL within ${timeout}s (log: $DATA/node.log)"
      sleep 0.3
    done
    echo "infra-chain: hardhat node up at $URL (pid $pid, chain id 31337) in $((SECONDS - t0))s"
  fi
  deploy
}

stop() {
  local pid t0=$SECONDS
  if ! pid="$(running_pid)"; then
    port_open "$PORT" && die "something listens on $PORT but it was not started from $DATA (no live pid file); stop it yourself"
    rm -f "$PIDFILE"; echo "infra-chain: not running"; return
  fi
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - t0 >= 10)); then kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$PIDFILE"
  echo "infra-chain: stopped pid $pid (the chain was in memory: a new start is a fresh chain)"
}

status() {
  if answers; then
    local pid
    pid="$(running_pid)" && echo "infra-chain: running at $URL (pid $pid)" || echo "infra-chain: a chain answers at $URL (not started from $DATA)"
    [ -f "$DEPLOYMENT" ] && echo "infra-chain: deployment $(tr -d '\n ' <"$DEPLOYMENT")"
    return 0
  fi
  echo "infra-chain: no chain answers at $URL"; exit 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
