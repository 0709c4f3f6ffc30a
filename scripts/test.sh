#!/usr/bin/env bash
# Runs the test suite against real services (used by `make test`).
#
#   scripts/test.sh [PYTEST ARGS...]      (default: tests)
#
# Unless DEBTCASES_TEST_DATABASE_URL is already set, starts a throwaway
# PostgreSQL via scripts/services.sh pg-start and exports its URL; unless
# DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS is set, starts a throwaway Kafka broker
# via scripts/services.sh kafka-start and exports its address. Whatever this
# script started is stopped again on exit (test failure and Ctrl-C included);
# a service that was already running from this repo is reused and left running.
# DEBTCASES_TEST_SERVICES_SH is exported (absolute path of services.sh) so tests
# can take the broker down and up again:
#   "$DEBTCASES_TEST_SERVICES_SH" kafka-stop --keep-data; ...; "$DEBTCASES_TEST_SERVICES_SH" kafka-start
# Exits with pytest's exit code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVICES="$ROOT/scripts/services.sh"
export DEBTCASES_TEST_SERVICES_SH="$SERVICES"

PYTHON="${DEBTCASES_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || { echo "test.sh: $PYTHON not found (run 'make venv' / 'make test')" >&2; exit 1; }

# The browser tests drive Debian's Chromium (Playwright's own download is not used).
if [ ! -x /usr/bin/chromium ]; then
    echo "test.sh: installing Debian's chromium for the browser tests" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
fi

STARTED=()
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        bash "$SERVICES" "${STARTED[$i]}-stop" || echo "test.sh: could not stop ${STARTED[$i]}" >&2
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${DEBTCASES_TEST_DATABASE_URL:-}" ]; then
    bash "$SERVICES" pg-status || STARTED+=(pg)
    DEBTCASES_TEST_DATABASE_URL="$(bash "$SERVICES" pg-start | tail -n 1)"
    export DEBTCASES_TEST_DATABASE_URL
fi
if [ -z "${DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    bash "$SERVICES" kafka-status || STARTED+=(kafka)
    DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS="$(bash "$SERVICES" kafka-start | tail -n 1)"
    export DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS
fi
echo "test.sh: DEBTCASES_TEST_DATABASE_URL=$DEBTCASES_TEST_DATABASE_URL" >&2
echo "test.sh: DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS=$DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS" >&2

if [ $# -eq 0 ]; then set -- tests; fi
set +e
"$PYTHON" -m pytest "$@"
rc=$?
set -e
exit "$rc"
