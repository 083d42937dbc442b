#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, no ZooKeeper) for development and tests.
#
#   scripts/kafka.sh start    resolve jars (once), format the log dir (once), start, wait ready
#   scripts/kafka.sh stop     stop the broker started by this script
#   scripts/kafka.sh status   exit 0 and print "running" when a metadata request succeeds
#   scripts/kafka.sh reset    stop and delete the log dir (topics and offsets are gone)
#   scripts/kafka.sh kill     SIGKILL the broker, no clean shutdown (fault drills)
#
# Jars come from Maven Central through scripts/kafka/pom.xml (mvn dependency:copy-dependencies)
# into a cache outside the repo. Every command is idempotent. The broker listens on loopback only.
#
# Environment (all optional):
#   KAFKA_VERSION   Kafka version to run              (default 4.1.2, see docs/kafka.md)
#   KAFKA_PORT      client port on 127.0.0.1          (default 9092; controller uses PORT+1)
#   CUSTOS_CACHE    cache root                        (default ~/.cache/custos)
#   KAFKA_HEAP      JVM heap options                  (default "-Xms256m -Xmx768m")
#   KAFKA_SCRAM_USERS  "name=password name=password ...": the client port then takes only
#                   SASL/SCRAM-SHA-512, ACLs are enforced (StandardAuthorizer, nothing allowed
#                   without an ACL) and the first user is the super user (docs/kafka.md). Set
#                   it before the first start: users are written when the log dir is formatted.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.2}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="$((KAFKA_PORT + 1))"
CACHE="${CUSTOS_CACHE:-$HOME/.cache/custos}/kafka-$KAFKA_VERSION"
LIBS="$CACHE/libs"
RUN="$CACHE/run-$KAFKA_PORT"
DATA="$RUN/data"
PIDFILE="$RUN/broker.pid"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx768m}"
KAFKA_SCRAM_USERS="${KAFKA_SCRAM_USERS:-}"
SUPER_USER="${KAFKA_SCRAM_USERS%% *}"

log() { echo "[kafka.sh] $*" >&2; }

resolve() {
  if [[ -f "$LIBS/.complete" ]]; then return; fi
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $LIBS"
  mkdir -p "$LIBS"
  mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$LIBS" -DincludeScope=runtime >&2
  touch "$LIBS/.complete"
}

write_config() {
  mkdir -p "$RUN/logs" "$DATA"
  if [[ -n "$KAFKA_SCRAM_USERS" ]]; then
    # Clients authenticate (SCRAM-SHA-512) and are authorised by ACLs; the broker talks to
    # itself as the super user. The controller listener stays on loopback, plaintext.
    cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=SASL_PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${SUPER_USER%%=*}" password="${SUPER_USER#*=}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:${SUPER_USER%%=*};User:ANONYMOUS
EOF
  else
    cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
  fi
  cat >>"$RUN/server.properties" <<EOF
log.dirs=$DATA
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
EOF
}

java_args() {
  # shellcheck disable=SC2206
  JAVA_ARGS=($KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true
    -Dkafka.logs.dir="$RUN/logs" -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties"
    -cp "$LIBS/*")
}
java_cmd() { java_args; java "${JAVA_ARGS[@]}" "$@"; }

format() {
  if [[ -f "$DATA/meta.properties" ]]; then return; fi
  local cluster_id
  cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  log "formatting KRaft log dir $DATA (cluster $cluster_id)"
  local scram=()
  for user in $KAFKA_SCRAM_USERS; do scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%=*},password=${user#*=}]"); done
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$RUN/server.properties" ${scram[@]+"${scram[@]}"} >"$RUN/logs/format.log" 2>&1
}

# Alive, and really our broker (a stale pid file may name a pid reused by something else).
pid_alive() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE")"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $RUN/server.properties"
}

metadata_ok() {
  # A real metadata request through kafkajs (the client Custos uses), not a port probe.
  KAFKA_READY_SASL="$SUPER_USER" node "$ROOT/scripts/kafka-ready.mjs" "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
}

start() {
  if pid_alive && metadata_ok; then log "already running on 127.0.0.1:$KAFKA_PORT"; return; fi
  command -v java >/dev/null || { log "java not found (Java 17+ is needed)"; exit 1; }
  resolve
  write_config
  format
  if ! pid_alive; then
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (logs: $RUN/logs)"
    java_args
    nohup java "${JAVA_ARGS[@]}" kafka.Kafka "$RUN/server.properties" >"$RUN/logs/stdout.log" 2>&1 &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 120); do
    if metadata_ok; then log "ready on 127.0.0.1:$KAFKA_PORT"; return; fi
    if ! pid_alive; then log "broker exited; last log lines:"; tail -30 "$RUN/logs/stdout.log" >&2 || true; exit 1; fi
    sleep 1
  done
  log "broker did not become ready in 120 s"; exit 1
}

stop() {
  if pid_alive; then
    local pid; pid="$(cat "$PIDFILE")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do pid_alive || break; sleep 0.5; done
    if pid_alive; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if metadata_ok; then echo running; else echo stopped; exit 1; fi ;;
  reset) stop; rm -rf "$RUN"; log "reset $RUN" ;;
  kill) if pid_alive; then kill -KILL "$(cat "$PIDFILE")"; log "killed"; fi ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
