#!/usr/bin/env bash
# `make test`: the whole suite in three pytest processes side by side, so it fits CI's 15
# minutes on two cores.
#
# The system tests (the reliability suite, the end-to-end demo, `gridhub up`, the load
# benchmark at a tiny size) spend most of their time waiting on the processes they start, so
# they run beside the rest instead of after it. They share nothing mutable with it: each
# process makes its own uniquely named PostgreSQL databases, and these tests use free ports,
# temporary folders and their own Airflow homes.
# The rest is cut in two along package lines (the source side — adapters, the canonical model,
# the bad-input corpus, the simulators, and identity resolution — beside everything downstream
# of it): one pytest
# process kept a single core busy for about half the run (1.1 cores used over 14 min).
# With arguments (`make test PYTEST_ARGS=…`) it is one ordinary pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if [ "$#" -gt 0 ]; then
    exec "$PY" -m pytest -q "$@"
fi

SYSTEM=(tests/reliability tests/gridhub/demo/test_demo_e2e.py tests/gridhub/cli/test_up.py
    tests/bench/test_load.py tests/bench/test_api_grpc.py)
SOURCES=(tests/adapters tests/canonical_model tests/corpus tests/simulators tests/resolution)
mkdir -p var
log=var/test-system.log
sources_log=var/test-sources.log
"$PY" -m pytest -q -p no:cacheprovider "${SYSTEM[@]}" >"$log" 2>&1 &
system_pid=$!
"$PY" -m pytest -q -p no:cacheprovider "${SOURCES[@]}" >"$sources_log" 2>&1 &
sources_pid=$!
trap 'kill -INT "$system_pid" "$sources_pid" 2>/dev/null; wait "$system_pid" "$sources_pid" 2>/dev/null' INT TERM

ignores=()
for path in "${SYSTEM[@]}" "${SOURCES[@]}"; do ignores+=(--ignore="$path"); done
"$PY" -m pytest -q "${ignores[@]}"
main_rc=$?

wait "$sources_pid"
sources_rc=$?
wait "$system_pid"
system_rc=$?
trap - INT TERM
echo
echo "=== source-side tests (${SOURCES[*]}), run alongside; log in $sources_log ==="
if [ "$sources_rc" -ne 0 ]; then cat "$sources_log"; else tail -n 5 "$sources_log"; fi
echo
echo "=== system tests (${SYSTEM[*]}), run alongside; log in $log ==="
if [ "$system_rc" -ne 0 ]; then cat "$log"; else tail -n 5 "$log"; fi
if [ "$main_rc" -ne 0 ] || [ "$sources_rc" -ne 0 ] || [ "$system_rc" -ne 0 ]; then
    echo "make test: FAILED (main suite exit $main_rc, source-side tests exit $sources_rc," \
        "system tests exit $system_rc)" >&2
    exit 1
fi
echo "make test: all passed"
