#!/usr/bin/env bash
# The first paid call, with curl, against `npm start` (standalone mode) on :8000 — README's
# walkthrough, step by step: onboarding, a provider's API, a buyer's prepaid calls, then an
# agent wallet on the embedded chain (faucet, fund, session, a session-paid call, close with
# refund). Every step's HTTP status (and the key facts of its answer) is checked: the script
# exits non-zero at the first step that does not do what README says, so it doubles as a check.
# Env: API (default http://localhost:8000), UPSTREAM_PORT (the tiny provider API, 9999).
set -euo pipefail
API=${API:-http://localhost:8000}
UPSTREAM_PORT=${UPSTREAM_PORT:-9999}
WORK=$(mktemp -d)
UP=
cleanup() {
  [ -n "$UP" ] && kill "$UP" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "✗ $*" >&2; exit 1; }
# step NAME STATUS CURL-ARGS...: one request; prints its status, X-ACF-* headers and body, and
# fails unless the status is STATUS (RETRY_ON=<status>: asked again, for 5 s, while it answers that).
# The body is left in $BODY.
step() {
  local name=$1 want=$2 status
  shift 2
  for _ in $(seq 50); do
    status=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@") || fail "$name: curl failed"
    [ "$status" = "${RETRY_ON:-}" ] || break
    sleep 0.1
  done
  BODY=$(cat "$WORK/body")
  echo "--- $name → $status"
  grep -iE '^x-acf-' "$WORK/headers" | tr -d '\r' || true
  echo "$BODY"
  [ "$status" = "$want" ] || fail "$name: expected HTTP $want, got $status"
}
# field JS-EXPRESSION: evaluates against the last body (as `d`) and prints the result.
field() { node -e 'const d=JSON.parse(process.argv[1]); const v=eval(process.argv[2]); if (v === undefined || v === null) process.exit(1); console.log(v)' "$BODY" "$1" || fail "no $1 in the answer"; }
# check JS-CONDITION: fails unless the condition holds for the last body (as `d`).
check() { node -e 'const d=JSON.parse(process.argv[1]); process.exit(eval(process.argv[2]) ? 0 : 1)' "$BODY" "$1" || fail "expected $1"; }

curl -sf -m 5 "$API/health" >/dev/null || fail "nothing answers at $API/health: start the platform with npm start first"

# A provider API of your own, on loopback (standalone mode allows loopback targets).
node -e 'require("http").createServer((q,s)=>{s.setHeader("content-type","application/json");s.end(JSON.stringify({sentiment:"positive",path:q.url}))}).listen(+process.argv[1],"127.0.0.1")' "$UPSTREAM_PORT" &
UP=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$UPSTREAM_PORT/" && break; sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$UPSTREAM_PORT/" || fail "the provider API did not start on 127.0.0.1:$UPSTREAM_PORT"

# 1–4: an agent onboards; a provider key lists an API; a buyer key.
step "1. agent onboard" 201 -X POST "$API/agent-onboard" -H 'Content-Type: application/json' \
  -d '{"agent_identity":"my-agent/1.0.0","org_name":"My Agent Org","project_name":"default"}'
BKS=$(field d.data.api_key)
ORG=$(field d.data.org_id)
step "2. provider key" 201 -X POST "$API/api/v1/keys" -H "Authorization: Bearer $BKS" -H 'Content-Type: application/json' \
  -d "{\"owner_id\":\"$ORG\",\"role\":\"provider\"}"
PROV="$(field d.key_id):$(field d.secret)"
step "3. list the API" 201 -X POST "$API/api/v1/services" -H "Authorization: Bearer $PROV" -H 'Content-Type: application/json' \
  -d "{\"name\":\"Sentiment Analysis API\",\"endpoint\":\"http://127.0.0.1:$UPSTREAM_PORT/v1\",\"price_per_call\":\"0.05\",\"category\":\"ai\",\"free_tier_calls\":1}"
SVC=$(field d.id)
step "4. buyer key" 201 -X POST "$API/api/v1/keys" -H 'Content-Type: application/json' -d "{\"owner_id\":\"buyer-$RANDOM$RANDOM\",\"role\":\"buyer\"}"
BUYER="$(field d.key_id):$(field d.secret)"

# 5: prepaid calls through the metering proxy. The listing reaches metering as an event, so the
# first call is retried while metering answers 404 (unknown service: nothing recorded or charged).
RETRY_ON=404 step "5a. free call" 200 -X POST "$API/api/v1/proxy/$SVC/analyze" -H "Authorization: Bearer $BUYER" -d '{"text":"hi"}'
check 'd.sentiment === "positive"'
step "5b. no balance" 402 -X POST "$API/api/v1/proxy/$SVC/analyze" -H "Authorization: Bearer $BUYER" -d '{"text":"hi"}'
step "5c. fund (dev)" 200 -X POST "$API/dev/balance/fund" -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' -d '{"amount":"1.00"}'
step "5d. paid call" 200 -X POST "$API/api/v1/proxy/$SVC/analyze" -H "Authorization: Bearer $BUYER" -d '{"text":"hi"}'
grep -qi '^x-acf-amount: 0.05' "$WORK/headers" || fail "5d. paid call: expected X-ACF-Amount: 0.05"
step "5e. usage" 200 "$API/api/v1/usage/me" -H "Authorization: Bearer $BUYER"
check 'd.total_calls === 2 && d.total_spent_usd === "0.05"'

# 6: an agent wallet on the embedded chain (spec 001).
step "6a. agent wallet" 201 -X POST "$API/agents" -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' \
  -d '{"name":"Research Bot","spending_cap":50000000}'
AGENT_ID=$(field d.id)
ADDRESS=$(field d.wallet_address)
step "6b. faucet" 200 -X POST "$API/dev/faucet" -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' \
  -d "{\"address\":\"$ADDRESS\",\"amount\":\"25000000\"}"
TX=$(field d.tx_hash)
step "6c. fund" 200 -X POST "$API/agents/$AGENT_ID/fund" -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' -d "{\"tx_hash\":\"$TX\"}"
check 'd.funded === true && d.amount === "25000000"'
step "6d. open a session" 201 -X POST "$API/sessions" -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' \
  -d "{\"agent_wallet_id\":\"$AGENT_ID\",\"deposit_amount\":5.00}"
check 'd.session.status === "open" && d.session.deposit_amount === 5000000'
SESSION=$(field d.session.id)
step "6e. session-paid call" 200 -X POST "$API/services/$SVC/analyze" -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' \
  -H "X-Session-Id: $SESSION" -H "X-Agent-Wallet: $AGENT_ID" -d '{"text":"hi"}'
check 'd.sentiment === "positive" && d._indiegent.payment === "session" && d._indiegent.cost === "$0.0500" && d._indiegent.session_remaining === "$4.9500"'
step "6f. close with refund" 200 -X POST "$API/sessions/$SESSION/close" -H "Authorization: Bearer $BUYER"
check 'd.session.status === "closed" && d.session.used_amount === 50000 && d.session.refunded === 4950000 && /^0x[0-9a-f]{64}$/.test(d.session.refund_tx_hash)'
step "6g. agent transactions" 200 "$API/agents/$AGENT_ID/transactions" -H "Authorization: Bearer $BUYER"
check 'd.total >= 2'

echo "✓ walkthrough complete"
