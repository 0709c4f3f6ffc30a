#!/usr/bin/env bash
# Throwaway test services for debtcases: a PostgreSQL 15 cluster and a real
# single-node Apache Kafka broker (KRaft mode), both bound to 127.0.0.1 only.
# No Docker needed (see docker/compose.yml for a Docker alternative).
#
# Usage: scripts/services.sh COMMAND
#   pg-start        start (or reuse) the test PostgreSQL; prints its URL on stdout:
#                     postgresql://postgres@127.0.0.1:54329/debtcases_test
#                   Besides the superuser it has two login roles (trust auth, no
#                   password), for the append-only tests: debtcases_events_owner (owns
#                   the events table) and debtcases_service (may only read and append
#                   events), as a production database runs them.
#   pg-stop         stop it and delete its data dir
#   pg-status       exit 0 if the test PostgreSQL started from this repo is running
#   kafka-start     start (or reuse) the test Kafka broker; prints the bootstrap
#                   address on stdout: 127.0.0.1:19092
#                   If a previous `kafka-stop --keep-data` left a data dir, the
#                   broker is restarted on that same data (topics, messages and
#                   committed offsets survive).
#   kafka-stop [--keep-data]
#                   stop the broker (TERM, then KILL after a timeout). Without
#                   --keep-data its data dir is deleted; with --keep-data it is
#                   kept so that the next `kafka-start` resumes on it. Tests that
#                   need a broker outage do:
#                     "$DEBTCASES_TEST_SERVICES_SH" kafka-stop --keep-data
#                     ... (broker down) ...
#                     "$DEBTCASES_TEST_SERVICES_SH" kafka-start
#   kafka-status    exit 0 if the broker started from this repo is running
#   stop-all        pg-stop + kafka-stop
#
# Environment:
#   DEBTCASES_TEST_PG_PORT      PostgreSQL port (default 54329)
#   DEBTCASES_TEST_KAFKA_PORT   Kafka client port (default 19092); the KRaft
#                               controller listens on DEBTCASES_TEST_KAFKA_CONTROLLER_PORT
#                               (default: client port + 1)
#   DEBTCASES_KAFKA_VERSION     Kafka version fetched from Maven Central (default 3.9.1,
#                               see scripts/kafka/pom.xml)
#   DEBTCASES_KAFKA_HEAP        broker heap (default 512m)
#   DEBTCASES_TEST_SERVICES_STATE_DIR  state dir (default var/services); a second broker
#                               beside the shared one needs its own dir and port
#
# State (pid, data dirs, ports) lives in var/services/ (git-ignored); broker logs
# go to var/services/kafka.log; the PostgreSQL log is in its data dir while it runs
# and copied to var/services/postgres.log by pg-stop.
# The Kafka jars are cached in .cache/kafka/<version>/libs (git-ignored), so only
# the first kafka-start needs the network (Maven Central).
# Progress messages go to stderr; stdout carries only the URL / address.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# DEBTCASES_TEST_SERVICES_STATE_DIR lets a second, private broker (e.g. an outage test) run
# beside the shared one: give it its own state dir and DEBTCASES_TEST_KAFKA_PORT.
STATE_DIR="${DEBTCASES_TEST_SERVICES_STATE_DIR:-$ROOT/var/services}"
mkdir -p "$STATE_DIR"

PG_PORT="${DEBTCASES_TEST_PG_PORT:-54329}"
PG_DB="debtcases_test"
KAFKA_PORT="${DEBTCASES_TEST_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${DEBTCASES_TEST_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_VERSION="${DEBTCASES_KAFKA_VERSION:-3.9.1}"
KAFKA_HEAP="${DEBTCASES_KAFKA_HEAP:-512m}"

PG_STATE="$STATE_DIR/pg.env"
KAFKA_STATE="$STATE_DIR/kafka.env"

log() { echo "services.sh: $*" >&2; }
die() { echo "services.sh: ERROR: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# alive = exists and is not a zombie (an exited daemon may linger as a zombie when
# its reaper, e.g. a container's pid 1, is slow to wait() for it)
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [ "$st" != "Z" ] && [ "$st" != "X" ]
}

# true if the process $1 has $2 somewhere in its command line (guards against pid reuse)
pid_matches() {
    pid_alive "$1" || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
    is_root || die "missing $*; install it (apt-get install -y $*) or run as root"
    log "installing $* with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "$@" >&2
}

# --------------------------------------------------------------------------- PostgreSQL

pg_bindir() {
    local d
    for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

ensure_pg_binaries() {
    if ! pg_bindir >/dev/null; then
        apt_install postgresql
        # the Debian package creates and starts its own "main" cluster on 5432; we
        # do not use it, stop it so it does not linger (harmless if it fails)
        if command -v pg_ctlcluster >/dev/null; then
            pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
        fi
    fi
    pg_bindir >/dev/null || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if is_root && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' user to run initdb as"
    fi
}

# run a command as the postgres user when we are root (initdb/postgres refuse root)
# (from /tmp: the repo may sit in a directory the postgres user cannot enter)
as_pg() {
    if is_root; then (cd /tmp && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_url() { echo "postgresql://postgres@127.0.0.1:$1/$PG_DB"; }

# The owner of the events table and the service role (see README "Nothing is ever
# deleted"); idempotent, so a reused cluster gets them too.
PG_ROLES="debtcases_events_owner debtcases_service"
ensure_pg_roles() {
    local port="$1" bindir role
    bindir="$(pg_bindir)"
    for role in $PG_ROLES; do
        "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
            -c "DO \$\$ BEGIN CREATE ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$" >/dev/null
    done
}

pg_running() {
    [ -f "$PG_STATE" ] || return 1
    # shellcheck disable=SC1090
    local PG_PID="" PG_DIR="" PG_PORT_USED=""
    . "$PG_STATE"
    pid_matches "$PG_PID" "$PG_DIR"
}

pg_start() {
    if [ -f "$PG_STATE" ]; then
        local PG_PID="" PG_DIR="" PG_PORT_USED=""
        # shellcheck disable=SC1090
        . "$PG_STATE"
        if pid_matches "$PG_PID" "$PG_DIR"; then
            log "PostgreSQL already running (pid $PG_PID, port $PG_PORT_USED), reusing it"
            ensure_pg_roles "$PG_PORT_USED"
            pg_url "$PG_PORT_USED"
            return 0
        fi
        log "stale PostgreSQL state found, cleaning up"
        pg_stop >/dev/null
    fi
    ensure_pg_binaries
    local bindir
    bindir="$(pg_bindir)"
    if port_open "$PG_PORT"; then
        die "port 127.0.0.1:$PG_PORT is already in use by another process (set DEBTCASES_TEST_PG_PORT)"
    fi

    local dir
    dir="$(mktemp -d /tmp/debtcases-pg.XXXXXX)"
    chmod 700 "$dir"
    if is_root; then chown postgres: "$dir"; fi
    # record the dir at once so that pg-stop can clean up even a half-started cluster
    printf 'PG_PID=\nPG_DIR=%q\nPG_PORT_USED=%q\n' "$dir" "$PG_PORT" >"$PG_STATE"

    log "initdb in $dir/data ..."
    if ! as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    fi
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- debtcases throwaway test cluster ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir'
max_connections = 250
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
logging_collector = off
log_min_messages = warning
log_min_error_statement = panic
EOF
    cat >"$dir/data/pg_hba.conf" <<EOF
local   all all                trust
host    all all 127.0.0.1/32   trust
EOF
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT ..."
    # the server log lives in the data dir (writable by postgres wherever the repo
    # is); pg-stop copies it to var/services/postgres.log
    local pglog="$dir/postgres.log"
    if ! as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$pglog" -w -t 60 start >/dev/null; then
        tail -n 30 "$pglog" >&2 || true
        die "PostgreSQL did not start (log: $pglog)"
    fi
    local pid
    pid="$(head -n 1 "$dir/data/postmaster.pid")"
    printf 'PG_PID=%q\nPG_DIR=%q\nPG_PORT_USED=%q\n' "$pid" "$dir" "$PG_PORT" >"$PG_STATE"

    local i
    for i in $(seq 1 60); do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; then break; fi
        [ "$i" -eq 60 ] && die "PostgreSQL not ready after 30s"
        sleep 0.5
    done
    "$bindir/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE $PG_DB OWNER postgres" >/dev/null
    ensure_pg_roles "$PG_PORT"
    log "PostgreSQL ready (pid $pid)"
    pg_url "$PG_PORT"
}

pg_stop() {
    if [ ! -f "$PG_STATE" ]; then
        log "no test PostgreSQL recorded, nothing to stop"
        return 0
    fi
    local PG_PID="" PG_DIR="" PG_PORT_USED=""
    # shellcheck disable=SC1090
    . "$PG_STATE"
    if [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ] && pid_matches "$PG_PID" "$PG_DIR"; then
        local bindir
        bindir="$(pg_bindir || true)"
        if [ -n "$bindir" ]; then
            as_pg "$bindir/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
        fi
    fi
    stop_pid "$PG_PID" "$PG_DIR" 20
    if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/postgres.log" ]; then
        cp "$PG_DIR/postgres.log" "$STATE_DIR/postgres.log" 2>/dev/null || true
    fi
    case "$PG_DIR" in
        /tmp/debtcases-pg.*) rm -rf -- "$PG_DIR" ;;
    esac
    rm -f "$PG_STATE"
    log "PostgreSQL stopped"
}

# TERM, wait up to $3 seconds, then KILL; only if pid $1 still belongs to us ($2 in cmdline)
stop_pid() {
    local pid="$1" marker="$2" timeout="$3" i
    pid_matches "$pid" "$marker" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((timeout * 10))); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    log "pid $pid did not stop within ${timeout}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
}

# --------------------------------------------------------------------------- Kafka

kafka_libs() { echo "$ROOT/.cache/kafka/$KAFKA_VERSION/libs"; }

ensure_java() {
    if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
        apt_install openjdk-17-jdk-headless maven
    fi
}

ensure_kafka_libs() {
    local libs
    libs="$(kafka_libs)"
    if [ -f "$libs/.complete" ]; then return 0; fi
    ensure_java
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $libs (first run only) ..."
    local tmp="$libs.tmp.$$"
    rm -rf -- "$tmp"
    mkdir -p "$tmp"
    local mvnlog="$STATE_DIR/kafka-mvn.log"
    if ! mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
        tail -n 40 "$mvnlog" >&2 || true
        rm -rf -- "$tmp"
        rmdir -- "$(dirname "$libs")" 2>/dev/null || true
        die "mvn could not fetch Kafka $KAFKA_VERSION (log: $mvnlog)"
    fi
    rm -rf -- "$libs"
    mv "$tmp" "$libs"
    touch "$libs/.complete"
}

kafka_running() {
    [ -f "$KAFKA_STATE" ] || return 1
    local KAFKA_PID="" KAFKA_DIR="" KAFKA_PORT_USED="" KAFKA_VERSION_USED=""
    # shellcheck disable=SC1090
    . "$KAFKA_STATE"
    pid_matches "$KAFKA_PID" "$KAFKA_DIR"
}

write_kafka_config() {
    local dir="$1"
    cat >"$dir/server.properties" <<EOF
# debtcases throwaway single-node KRaft broker (generated by scripts/services.sh)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=67108864
log.flush.interval.messages=9223372036854775807
EOF
    cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
EOF
}

random_cluster_id() {
    # Kafka cluster ids are 16 random bytes, base64url without padding (22 chars)
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

kafka_probe() {
    # metadata request via scripts/kafka/probe.py (stdlib python); port check if no python
    local py
    py="$(command -v python3 || true)"
    if [ -z "$py" ] && [ -x "$ROOT/.venv/bin/python" ]; then py="$ROOT/.venv/bin/python"; fi
    if [ -n "$py" ]; then
        "$py" "$ROOT/scripts/kafka/probe.py" 127.0.0.1 "$1" 3 >/dev/null 2>&1
    else
        port_open "$1"
    fi
}

kafka_start() {
    local KAFKA_PID="" KAFKA_DIR="" KAFKA_PORT_USED="" KAFKA_VERSION_USED=""
    local dir="" reuse_data=0
    if [ -f "$KAFKA_STATE" ]; then
        # shellcheck disable=SC1090
        . "$KAFKA_STATE"
        if pid_matches "$KAFKA_PID" "$KAFKA_DIR"; then
            log "Kafka already running (pid $KAFKA_PID, port $KAFKA_PORT_USED), reusing it"
            echo "127.0.0.1:$KAFKA_PORT_USED"
            return 0
        fi
        if [ -n "$KAFKA_DIR" ] && [ -f "$KAFKA_DIR/server.properties" ] && [ -f "$KAFKA_DIR/data/meta.properties" ]; then
            log "restarting Kafka on the kept data dir $KAFKA_DIR"
            dir="$KAFKA_DIR"
            reuse_data=1
            KAFKA_PORT="$KAFKA_PORT_USED"
            KAFKA_CONTROLLER_PORT="$(sed -n 's/^controller\.quorum\.voters=.*:\([0-9]*\)$/\1/p' "$dir/server.properties")"
            KAFKA_VERSION="${KAFKA_VERSION_USED:-$KAFKA_VERSION}"
        else
            log "stale Kafka state found, cleaning up"
            kafka_stop >/dev/null
        fi
    fi
    ensure_kafka_libs
    local libs
    libs="$(kafka_libs)"
    local p
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_open "$p"; then
            die "port 127.0.0.1:$p is already in use by another process (set DEBTCASES_TEST_KAFKA_PORT)"
        fi
    done

    if [ "$reuse_data" -eq 0 ]; then
        dir="$(mktemp -d /tmp/debtcases-kafka.XXXXXX)"
        write_kafka_config "$dir"
        printf 'KAFKA_PID=\nKAFKA_DIR=%q\nKAFKA_PORT_USED=%q\nKAFKA_VERSION_USED=%q\n' \
            "$dir" "$KAFKA_PORT" "$KAFKA_VERSION" >"$KAFKA_STATE"
        local cid
        cid="$(random_cluster_id)"
        log "formatting KRaft storage (cluster id $cid) ..."
        if ! java -cp "$libs/*" -Dlog4j.configuration="file:$dir/log4j.properties" \
            kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
            >"$dir/format.log" 2>&1; then
            cat "$dir/format.log" >&2
            die "kafka storage format failed"
        fi
    fi

    local klog="$STATE_DIR/kafka.log"
    log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (log: $klog) ..."
    echo "===== $(date -Is) kafka-start (data: $dir) =====" >>"$klog"
    # shellcheck disable=SC2086
    nohup java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$dir/log4j.properties" \
        -Dkafka.logs.dir="$dir/logs" \
        -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$klog" 2>&1 &
    local pid=$!
    printf 'KAFKA_PID=%q\nKAFKA_DIR=%q\nKAFKA_PORT_USED=%q\nKAFKA_VERSION_USED=%q\n' \
        "$pid" "$dir" "$KAFKA_PORT" "$KAFKA_VERSION" >"$KAFKA_STATE"

    local i deadline=$((SECONDS + 90))
    while :; do
        if ! pid_alive "$pid"; then
            tail -n 40 "$klog" >&2 || true
            die "Kafka exited during startup (log: $klog)"
        fi
        if port_open "$KAFKA_PORT" && kafka_probe "$KAFKA_PORT"; then break; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 40 "$klog" >&2 || true
            die "Kafka not ready after 90s (log: $klog)"
        fi
        sleep 0.3
    done
    log "Kafka ready (pid $pid)"
    echo "127.0.0.1:$KAFKA_PORT"
}

kafka_stop() {
    local keep=0
    if [ "${1:-}" = "--keep-data" ]; then keep=1; fi
    if [ ! -f "$KAFKA_STATE" ]; then
        log "no test Kafka recorded, nothing to stop"
        return 0
    fi
    local KAFKA_PID="" KAFKA_DIR="" KAFKA_PORT_USED="" KAFKA_VERSION_USED=""
    # shellcheck disable=SC1090
    . "$KAFKA_STATE"
    if [ -n "$KAFKA_DIR" ]; then stop_pid "$KAFKA_PID" "$KAFKA_DIR" 30; fi
    if [ "$keep" -eq 1 ]; then
        printf 'KAFKA_PID=\nKAFKA_DIR=%q\nKAFKA_PORT_USED=%q\nKAFKA_VERSION_USED=%q\n' \
            "$KAFKA_DIR" "$KAFKA_PORT_USED" "$KAFKA_VERSION_USED" >"$KAFKA_STATE"
        log "Kafka stopped (data kept in $KAFKA_DIR)"
    else
        case "$KAFKA_DIR" in
            /tmp/debtcases-kafka.*) rm -rf -- "$KAFKA_DIR" ;;
        esac
        rm -f "$KAFKA_STATE"
        log "Kafka stopped"
    fi
}

# --------------------------------------------------------------------------- main

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    pg-start) pg_start ;;
    pg-stop) pg_stop ;;
    pg-status) pg_running ;;
    kafka-start) kafka_start ;;
    kafka-stop) kafka_stop "$@" ;;
    kafka-status) kafka_running ;;
    stop-all) kafka_stop; pg_stop ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
