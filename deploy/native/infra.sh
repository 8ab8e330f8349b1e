#!/usr/bin/env bash
# Native dev/test infrastructure: one PostgreSQL cluster and one single-node
# Apache Kafka (KRaft, broker+controller) on 127.0.0.1, data kept across
# stop/start. No containers: PostgreSQL comes from Debian, Kafka's jars from
# Maven Central (deploy/native/kafka/pom.xml).
#
#   infra.sh install | start | stop | status | env | logs [postgres|kafka] [-f]
#   infra.sh start-postgres | stop-postgres | start-kafka | stop-kafka
#   infra.sh kafka-tool <main class> [args]   # run a Kafka CLI class, e.g.
#            org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list
#
# Executed, it runs the subcommand; sourced, it only defines the variables
# and functions below.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
DATA_DIR="$(realpath -m "${TWOFOLD_DATA_DIR:-$REPO_ROOT/.data}")"
# Below the ephemeral range (32768 and up): a client reconnecting to a stopped broker could otherwise take
# the broker's port by connecting to itself, and the broker could not bind it again (README).
PG_PORT="${TWOFOLD_PG_PORT:-25432}"
KAFKA_PORT="${TWOFOLD_KAFKA_PORT:-29092}"
CONTROLLER_PORT=$((KAFKA_PORT + 1))
# Development-only superuser password (loopback only, never used in production).
PG_USER=postgres
PG_PASSWORD=twofold-dev
READY_TIMEOUT=90

KAFKA_POM="$HERE/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
KAFKA_LIBS="${TWOFOLD_CACHE_DIR:-${HOME:-/root}/.cache/twofold}/kafka-$KAFKA_VERSION/libs"
# Small heap: this runs next to the app and its tests on a 2-core dev box.
KAFKA_JAVA_OPTS="${TWOFOLD_KAFKA_JAVA_OPTS:--Xms128m -Xmx512m -XX:+UseSerialGC}"

PG_DATA="$DATA_DIR/postgres"
KAFKA_DIR="$DATA_DIR/kafka"
LOG_DIR="$DATA_DIR/logs"
RUN_DIR="$DATA_DIR/run"

log() { echo "infra: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- install
pg_bin() { printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }  # newest major

install_postgres() {
  [ -x "$(pg_bin)/initdb" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL server binaries missing; run: sudo apt-get install -y postgresql"
  log "installing PostgreSQL from Debian packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

install_kafka() {
  [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ] && return 0
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    [ "$(id -u)" = 0 ] || die "java and mvn are needed; run: sudo apt-get install -y openjdk-17-jre-headless maven"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  fi
  log "fetching Kafka $KAFKA_VERSION jars into $KAFKA_LIBS"
  # Download beside the cache and rename, so an interrupted download is never
  # mistaken for a complete cache (and parallel runs cannot mix files).
  local tmp="$KAFKA_LIBS.tmp.$$" out
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  out="$(cd "$HERE/kafka" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime 2>&1)" \
    || { echo "$out" >&2; rm -rf "$tmp"; die "mvn could not fetch the Kafka jars"; }
  mv -T "$tmp" "$KAFKA_LIBS" 2>/dev/null || rm -rf "$tmp"
}

# ---------------------------------------------------------------- postgres
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# 'postgres' system user and every pg command runs as that user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# As root: give 'postgres' its own files, and let it traverse the parents of
# the data dir (the repo may sit under a root-only dir): o+x only, no read.
pg_prepare_owner() {
  [ "$(id -u)" = 0 ] || return 0
  id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  local dir d part parts
  for dir in "$LOG_DIR" "$RUN_DIR"; do
    d=""; IFS=/ read -ra parts <<<"${dir#/}"
    for part in "${parts[@]}"; do
      d="$d/$part"
      if ! runuser -u postgres -- test -x "$d"; then
        log "chmod o+x $d so the postgres user can reach its data dir"; chmod o+x "$d"
      fi
    done
  done
  chown postgres: "$PG_DATA" "$PG_SOCK_DIR" "$LOG_DIR/postgres.log"
}

pg_running() { [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }
pg_pid() { head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

start_postgres() {
  install_postgres
  local bin; bin="$(pg_bin)"
  # Socket paths are limited to ~107 bytes; fall back to /tmp for deep data dirs.
  PG_SOCK_DIR="$RUN_DIR/pg"; [ ${#PG_SOCK_DIR} -lt 90 ] || PG_SOCK_DIR="/tmp/twofold-pg-$PG_PORT"
  mkdir -p "$PG_DATA" "$PG_SOCK_DIR" "$LOG_DIR" && chmod 700 "$PG_DATA" && touch "$LOG_DIR/postgres.log"
  pg_prepare_owner
  if pg_running; then log "postgres already running (pid $(pg_pid))"; return 0; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initdb $PG_DATA"
    local pwfile="$PG_SOCK_DIR/initdb.pw"   # a dir the postgres user can read
    echo "$PG_PASSWORD" >"$pwfile"; chmod 600 "$pwfile"; [ "$(id -u)" != 0 ] || chown postgres: "$pwfile"
    as_pg "$bin/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" --auth=scram-sha-256 \
      --encoding=UTF8 --locale=C >>"$LOG_DIR/postgres.log" 2>&1 || { rm -f "$pwfile"; die "initdb failed, see $LOG_DIR/postgres.log"; }
    rm -f "$pwfile"
    echo "include = 'twofold.conf'" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
  fi
  # Regenerated on every start so port/socket changes in the env take effect.
  as_pg tee "$PG_DATA/twofold.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK_DIR'
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = 128MB
fsync = on                # durability: the data must survive stop/start and crashes
synchronous_commit = on
track_commit_timestamp = on   # bench/ measures event propagation from commit to commit
EOF
  log "starting postgres on 127.0.0.1:$PG_PORT"
  # 9>&-: the server must not inherit (and hold forever) our lock fd.
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -w -t "$READY_TIMEOUT" start >/dev/null 9>&- \
    || { tail -n 30 "$LOG_DIR/postgres.log" >&2; die "postgres did not start"; }
  pg_pid >"$RUN_DIR/postgres.pid"
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$LOG_DIR/postgres.log" >&2; die "postgres not ready after ${READY_TIMEOUT}s"; }
    sleep 0.5
  done
}

stop_postgres() {
  if pg_running; then
    log "stopping postgres (pid $(pg_pid))"
    as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  fi
  rm -f "$RUN_DIR/postgres.pid"
}

# ---------------------------------------------------------------- kafka
kafka_java() {  # run a Kafka CLI main class on the cached jars, warnings only
  ${KAFKA_TOOL_TIMEOUT:+timeout "$KAFKA_TOOL_TIMEOUT"} java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dtwofold.log.level=WARN -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" -cp "$KAFKA_LIBS/*" "$@"
}

# The pid file alone is not trusted: the pid must be alive and still be Kafka
# (a zombie or a recycled pid has another/empty cmdline, unlike kill -0).
is_kafka() { [ -n "$1" ] && [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" == *" kafka.Kafka "* ]]; }
kafka_pid() {
  local pid; pid="$(cat "$RUN_DIR/kafka.pid" 2>/dev/null)" || return 1
  is_kafka "$pid" && echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

kafka_ready() {  # speaks the Kafka protocol: ApiVersions + Metadata must list broker 1
  local out
  out="$(KAFKA_TOOL_TIMEOUT=30 kafka_java org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" 2>&1)" || return 1
  grep -q "127.0.0.1:$KAFKA_PORT (id: 1" <<<"$out"
}

write_kafka_config() {
  # Single node, combined mode, static controller quorum: the voter address
  # comes from this file on every start (no --standalone / dynamic quorum),
  # so a changed port in the env just works.
  cat >"$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Memory: the log cleaner (compaction of __consumer_offsets) keeps a 128 MB
# heap buffer by default; 16 MB is plenty here. Fewer offsets partitions
# (default 50) mean fewer open segments/mmaps; it only applies at first start.
log.cleaner.dedupe.buffer.size=16777216
offsets.topic.num.partitions=10
EOF
  # All output goes to stderr, which start_kafka appends to logs/kafka.log.
  cat >"$KAFKA_DIR/log4j2.xml" <<'EOF'
<Configuration status="WARN">
  <Appenders>
    <Console name="out" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="${sys:twofold.log.level:-INFO}"><AppenderRef ref="out"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

start_kafka() {
  install_kafka
  mkdir -p "$KAFKA_DIR" "$LOG_DIR" "$RUN_DIR"
  write_kafka_config
  local pid
  if pid="$(kafka_pid)"; then
    log "kafka already running (pid $pid)"
  else
    port_in_use "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process (not our Kafka)"
    if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
      # The cluster id is generated once and kept, then storage is formatted once.
      [ -s "$KAFKA_DIR/cluster.id" ] || kafka_java kafka.tools.StorageTool random-uuid >"$KAFKA_DIR/cluster.id"
      log "formatting Kafka storage (cluster id $(cat "$KAFKA_DIR/cluster.id"))"
      kafka_java kafka.tools.StorageTool format -t "$(cat "$KAFKA_DIR/cluster.id")" \
        -c "$KAFKA_DIR/server.properties" >>"$LOG_DIR/kafka.log" 2>&1 || die "kafka storage format failed, see $LOG_DIR/kafka.log"
    fi
    log "starting kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
    # setsid: own session, so the broker outlives this shell and its terminal.
    # shellcheck disable=SC2086
    setsid java $KAFKA_JAVA_OPTS -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" -cp "$KAFKA_LIBS/*" \
      kafka.Kafka "$KAFKA_DIR/server.properties" >>"$LOG_DIR/kafka.log" 2>&1 </dev/null 9>&- &
    echo $! >"$RUN_DIR/kafka.pid"
  fi
  # Probe the port cheaply first: each protocol check is a JVM start, which
  # would steal CPU from the booting broker on a 2-core box.
  local deadline=$((SECONDS + READY_TIMEOUT))
  until port_in_use "$KAFKA_PORT" && kafka_ready; do
    kafka_pid >/dev/null || { tail -n 40 "$LOG_DIR/kafka.log" >&2; die "kafka exited during startup"; }
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$LOG_DIR/kafka.log" >&2; die "kafka not ready after ${READY_TIMEOUT}s"; }
    sleep 0.5
  done
}

stop_kafka() {
  local pid
  if pid="$(kafka_pid)"; then
    log "stopping kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do is_kafka "$pid" || break; sleep 0.5; done
    if is_kafka "$pid"; then log "kafka ignored SIGTERM for 30s, sending SIGKILL"; kill -KILL "$pid" || true; fi
    # An exiting JVM's cmdline is gone before its sockets are: a start right after would find the
    # ports still bound (seen as "Address already in use" in a restart under load).
    for _ in $(seq 1 60); do port_in_use "$KAFKA_PORT" || port_in_use "$CONTROLLER_PORT" || break; sleep 0.5; done
  fi
  rm -f "$RUN_DIR/kafka.pid"
}

# ---------------------------------------------------------------- main
status() {
  local rc=0 pid
  if pg_running; then echo "postgres: running pid $(pg_pid) port $PG_PORT"; else echo "postgres: stopped port $PG_PORT"; rc=3; fi
  if pid="$(kafka_pid)"; then echo "kafka: running pid $pid port $KAFKA_PORT"; else echo "kafka: stopped port $KAFKA_PORT"; rc=3; fi
  return $rc
}

main() {
  mkdir -p "$RUN_DIR"
  local cmd="${1:-}"; shift || true
  case "$cmd" in
    start|stop|start-*|stop-*|install) exec 9>"$RUN_DIR/infra.lock"; flock 9 ;;  # one at a time per data dir
  esac
  case "$cmd" in
    install) install_postgres; install_kafka ;;
    start) start_postgres; start_kafka; status ;;
    stop) stop_kafka; stop_postgres ;;
    start-postgres) start_postgres ;;
    stop-postgres) stop_postgres ;;
    start-kafka) start_kafka ;;
    stop-kafka) stop_kafka ;;
    status) status ;;
    logs)  # logs [postgres|kafka] [tail flags, e.g. -f]; both logs by default
      local files=() flags=() a
      for a in "$@"; do case "$a" in postgres|kafka) files+=("$LOG_DIR/$a.log") ;; *) flags+=("$a") ;; esac; done
      [ ${#files[@]} -gt 0 ] || files=("$LOG_DIR/postgres.log" "$LOG_DIR/kafka.log")
      tail -n 100 "${flags[@]}" "${files[@]}" ;;
    env)
      echo "export TWOFOLD_PG_ADMIN_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
      echo "export TWOFOLD_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT" ;;
    kafka-tool) install_kafka; mkdir -p "$KAFKA_DIR"; write_kafka_config; kafka_java "$@" ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  main "$@"
fi
