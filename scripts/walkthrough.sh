#!/usr/bin/env bash
# The first paid call, with curl, against `npm start` (standalone mode) on :8000.
# README shows the same steps.
set -euo pipefail
API=http://localhost:8000
# a provider API of your own, on loopback (standalone mode allows loopback targets)
node -e 'require("http").createServer((q,s)=>{s.setHeader("content-type","application/json");s.end(JSON.stringify({sentiment:"positive",path:q.url}))}).listen(9999)' &
UP=$!; sleep 0.5
ONBOARD=$(curl -s -X POST $API/agent-onboard -H 'Content-Type: application/json' \
  -d '{"agent_identity":"my-agent/1.0.0","org_name":"My Agent Org","project_name":"default"}')
echo "$ONBOARD"
BKS=$(echo "$ONBOARD" | node -pe 'JSON.parse(require("fs").readFileSync(0)).data.api_key')
ORG=$(echo "$ONBOARD" | node -pe 'JSON.parse(require("fs").readFileSync(0)).data.org_id')
PROV=$(curl -s -X POST $API/api/v1/keys -H "Authorization: Bearer $BKS" -H 'Content-Type: application/json' \
  -d "{\"owner_id\":\"$ORG\",\"role\":\"provider\"}" | node -pe 'const k=JSON.parse(require("fs").readFileSync(0)); k.key_id+":"+k.secret')
SVC=$(curl -s -X POST $API/api/v1/services -H "Authorization: Bearer $PROV" -H 'Content-Type: application/json' \
  -d '{"name":"Sentiment Analysis API","endpoint":"http://127.0.0.1:9999/v1","price_per_call":"0.05","category":"ai","free_tier_calls":1}' \
  | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
BUYER=$(curl -s -X POST $API/api/v1/keys -H 'Content-Type: application/json' -d "{\"owner_id\":\"buyer-$RANDOM\",\"role\":\"buyer\"}" \
  | node -pe 'const k=JSON.parse(require("fs").readFileSync(0)); k.key_id+":"+k.secret')
sleep 0.3
echo "--- free call";    curl -s -i -X POST $API/api/v1/proxy/$SVC/analyze -H "Authorization: Bearer $BUYER" -d '{"text":"hi"}' | grep -iE '^HTTP|x-acf|sentiment'
echo "--- no balance";   curl -s -i -X POST $API/api/v1/proxy/$SVC/analyze -H "Authorization: Bearer $BUYER" -d '{"text":"hi"}' | grep -iE '^HTTP|detail'
echo "--- fund";         curl -s -X POST $API/dev/balance/fund -H "Authorization: Bearer $BUYER" -H 'Content-Type: application/json' -d '{"amount":"1.00"}'; echo
echo "--- paid call";    curl -s -i -X POST $API/api/v1/proxy/$SVC/analyze -H "Authorization: Bearer $BUYER" -d '{"text":"hi"}' | grep -iE '^HTTP|x-acf|sentiment'
echo "--- usage";        curl -s $API/api/v1/usage/me -H "Authorization: Bearer $BUYER"; echo
kill $UP
