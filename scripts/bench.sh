#!/usr/bin/env bash
# `make bench`: the benchmarks (never part of `make test`). Starts a throwaway PostgreSQL
# (and Kafka for the Kafka benchmark) unless DEBTCASES_TEST_DATABASE_URL /
# DEBTCASES_TEST_KAFKA_BOOTSTRAP_SERVERS point at running ones; stops what it started.
#   BENCH_CASES=1000000 make bench     # every figure at a million cases (takes long)
# bench/run.py: one table (each figure beside its same-run baseline and the target of
# issue 10), also written as JSON under bench/results/; then eligibility and as_of.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVICES="$ROOT/scripts/services.sh"
PYTHON="$ROOT/.venv/bin/python"
STARTED=()
cleanup() {
    local rc=$? i
    trap - EXIT
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        bash "$SERVICES" "${STARTED[$i]}-stop" || true
    done
    exit "$rc"
}
trap cleanup EXIT
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
export PYTHONWARNINGS="ignore::DeprecationWarning"
# Every figure of the service beside a same-run baseline (one table, JSON in bench/results/),
# then the eligibility explainer/scheduler and the as-of list pages (their own tables).
"$PYTHON" -m bench.run
for bench in bench/bench_eligibility.py; do
    echo "== $bench"
    "$PYTHON" "$bench"
done
# The as-of list pages (issue 11: p99 <= 3x today's page) at the same BENCH_CASES, on
# PostgreSQL (BENCH_AS_OF_BACKENDS=postgres,sqlite for both); JSON: bench/results/*-as_of.json.
echo "== bench/bench_as_of.py"
BENCH_BACKENDS="${BENCH_AS_OF_BACKENDS:-postgres}" "$PYTHON" -m bench.bench_as_of
