#!/usr/bin/env bash
# Single-node KRaft Apache Kafka 3.9 broker run from the Maven Central jars (infra/kafka/pom.xml)
# with the machine's Java; no distribution tarball, no Docker.
#   scripts/infra-kafka.sh start|stop|status|topics
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_DATA_DIR (.data/kafka),
#      KAFKA_HEAP_OPTS (-Xms128m -Xmx512m), KAFKA_START_TIMEOUT / KAFKA_STOP_TIMEOUT (seconds).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_DIR="$REPO/infra/kafka"
LIB="$KAFKA_DIR/lib"
DATA="${KAFKA_DATA_DIR:-$REPO/.data/kafka}"
HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
PIDFILE="$DATA/kafka.pid"
export KAFKA_BROKERS="$HOST:$PORT"  # for create-topics.cjs

die() { echo "infra-kafka: $*" >&2; exit 1; }
port_open() { (: <"/dev/tcp/$HOST/$1") 2>/dev/null; }
broker_answers() { port_open "$PORT" && node "$KAFKA_DIR/create-topics.cjs" --ping; }
# The pid file only counts while it names a live kafka.Kafka process (pids get reused).
running_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' && echo "$pid"
}
kjava() { java -Dlog4j.configuration="file:$DATA/log4j.properties" -cp "$LIB/*" "$@"; }

fetch_jars() {
  ls "$LIB"/kafka_2.13-*.jar >/dev/null 2>&1 && return
  command -v mvn >/dev/null || die "no Kafka jars in $LIB and mvn is not installed (apt-get install maven)"
  echo "infra-kafka: fetching Kafka jars with Maven into $LIB"
  (cd "$KAFKA_DIR" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory=lib \
    -DincludeScope=runtime) >"$DATA/mvn.log" 2>&1 \
    || { tail -n 20 "$DATA/mvn.log" >&2; die "mvn could not fetch org.apache.kafka:kafka_2.13 (is Maven Central reachable?); log above"; }
}

write_config() {
  mkdir -p "$DATA/kraft"
  cat >"$DATA/server.properties" <<EOF
# Written by scripts/infra-kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA/kraft
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$DATA/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$DATA/server.log
log4j.appender.file.MaxFileSize=10MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
# Keep the "Kafka Server started/shut down" lines so server.log shows the broker's lifecycle.
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

format_storage() {
  [ -s "$DATA/cluster-id" ] || kjava kafka.tools.StorageTool random-uuid >"$DATA/cluster-id"
  # meta.properties means it is formatted already; skipping the JVM saves ~1 s per warm start.
  [ -f "$DATA/kraft/meta.properties" ] && return
  kjava kafka.tools.StorageTool format -t "$(cat "$DATA/cluster-id")" -c "$DATA/server.properties" \
    --ignore-formatted >>"$DATA/kafka.out" 2>&1 || die "formatting $DATA/kraft failed; see $DATA/kafka.out"
}

start() {
  mkdir -p "$DATA"
  # Parallel callers (test workers) queue here, so only one of them launches a broker.
  exec 9>"$DATA/start.lock"
  flock -w "${KAFKA_START_TIMEOUT:-60}" 9 || die "another start holds $DATA/start.lock"
  command -v node >/dev/null || die "node is not installed (the readiness check uses kafkajs)"
  if broker_answers; then echo "infra-kafka: reusing the broker at $KAFKA_BROKERS"; return; fi
  local pid
  # A live pid file means an earlier start timed out while the broker was still booting: wait for it.
  if ! pid="$(running_pid)"; then
    port_open "$PORT" && die "port $PORT is taken by something that does not answer as a Kafka broker"
    command -v java >/dev/null || die "java is not installed (Kafka needs Java 17: apt-get install openjdk-17-jre-headless)"
    fetch_jars
    write_config
    format_storage
    # setsid: the broker must outlive the shell (and process group) that started it;
    # 9>&-: it must not inherit (and so hold forever) the start lock.
    # shellcheck disable=SC2086
    setsid nohup java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$DATA/log4j.properties" -Dkafka.logs.dir="$DATA" \
      -cp "$LIB/*" kafka.Kafka "$DATA/server.properties" >>"$DATA/kafka.out" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  local timeout="${KAFKA_START_TIMEOUT:-60}" t0=$SECONDS
  until broker_answers; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$DATA/server.log" "$DATA/kafka.out" >&2 2>/dev/null; die "the broker (pid $pid) exited during start-up; logs above"; }
    ((SECONDS - t0 < timeout)) || die "no broker answered metadata requests at $KAFKA_BROKERS within ${timeout}s (pid $pid, logs in $DATA/server.log)"
    sleep 0.3
  done
  echo "infra-kafka: broker up at $KAFKA_BROKERS (pid $pid, data $DATA) in $((SECONDS - t0))s"
}

stop() {
  local pid timeout="${KAFKA_STOP_TIMEOUT:-30}" t0=$SECONDS
  if ! pid="$(running_pid)"; then
    port_open "$PORT" && die "something listens on $PORT but it was not started from $DATA (no live pid file); stop it yourself"
    rm -f "$PIDFILE"; echo "infra-kafka: not running"; return
  fi
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - t0 >= timeout)); then echo "infra-kafka: pid $pid ignored TERM for ${timeout}s; sending KILL" >&2; kill -KILL "$pid"; fi
    sleep 0.2
  done
  until ! port_open "$PORT"; do
    ((SECONDS - t0 < timeout + 10)) || die "pid $pid is gone but port $PORT is still open"
    sleep 0.2
  done
  rm -f "$PIDFILE"
  echo "infra-kafka: stopped pid $pid in $((SECONDS - t0))s"
}

status() {
  local pid
  if broker_answers; then
    pid="$(running_pid)" && echo "infra-kafka: running at $KAFKA_BROKERS (pid $pid, data $DATA)" \
      || echo "infra-kafka: a broker answers at $KAFKA_BROKERS (not started from $DATA)"
  else
    echo "infra-kafka: no broker answers at $KAFKA_BROKERS"; exit 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  topics) node "$KAFKA_DIR/create-topics.cjs" ;;
  *) echo "usage: $0 start|stop|status|topics" >&2; exit 2 ;;
esac
