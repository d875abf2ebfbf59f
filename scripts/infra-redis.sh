#!/usr/bin/env bash
# Ensures Redis answers PING at REDIS_URL (default redis://127.0.0.1:6379), starting a local
# redis-server (no persistence) when nothing listens there.
set -euo pipefail

REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${REDIS_URL#redis://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
HOST="${hostport%:*}"; PORT="${hostport##*:}"
[ "$HOST" != "$hostport" ] || PORT=6379

die() { echo "infra-redis: $*" >&2; exit 1; }
# Speaks RESP over bash's /dev/tcp so redis-cli is not needed.
ping_reply() {
  local reply
  exec 3<>"/dev/tcp/$HOST/$PORT" || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&-
  echo "${reply%$'\r'}"
}
answers() { [ "$(ping_reply 2>/dev/null)" = "+PONG" ]; }

answers && { echo "infra-redis: answering at $HOST:$PORT"; exit 0; }
reply="$(ping_reply 2>/dev/null)" && die "something at $HOST:$PORT answered PING with '$reply' instead of +PONG"
case "$HOST" in 127.0.0.1|localhost) ;; *) die "no Redis answers at $HOST:$PORT (not a local address, so not starting one)";; esac
command -v redis-server >/dev/null || die "no Redis answers at $HOST:$PORT and redis-server is not installed (apt-get install redis-server)"
redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no >/dev/null \
  || die "redis-server failed to start on 127.0.0.1:$PORT"
t0=$SECONDS
until answers; do
  ((SECONDS - t0 < ${REDIS_START_TIMEOUT:-15})) || die "redis-server was started but did not answer PING at $HOST:$PORT within ${REDIS_START_TIMEOUT:-15}s"
  sleep 0.2
done
echo "infra-redis: started and answering at $HOST:$PORT"
