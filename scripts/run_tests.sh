#!/usr/bin/env bash
# `make test`: the whole suite in two pytest processes side by side, so it fits CI's 15 minutes
# on two cores.
#
# The system tests (the reliability suite, the end-to-end demo, `gridhub up`, the load
# benchmark at a tiny size) spend most of their time waiting on the processes they start, so
# they run beside the rest instead of after it. They share nothing mutable with it: each
# process makes its own uniquely named PostgreSQL databases, and these tests use free ports,
# temporary folders and their own Airflow homes.
# With arguments (`make test PYTEST_ARGS=…`) it is one ordinary pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if [ "$#" -gt 0 ]; then
    exec "$PY" -m pytest -q "$@"
fi

SYSTEM=(tests/reliability tests/gridhub/demo/test_demo_e2e.py tests/gridhub/cli/test_up.py
    tests/bench/test_load.py)
mkdir -p var
log=var/test-system.log
"$PY" -m pytest -q -p no:cacheprovider "${SYSTEM[@]}" >"$log" 2>&1 &
system_pid=$!
trap 'kill -INT "$system_pid" 2>/dev/null; wait "$system_pid" 2>/dev/null' INT TERM

ignores=()
for path in "${SYSTEM[@]}"; do ignores+=(--ignore="$path"); done
"$PY" -m pytest -q "${ignores[@]}"
main_rc=$?

wait "$system_pid"
system_rc=$?
trap - INT TERM
echo
echo "=== system tests (${SYSTEM[*]}), run alongside; log in $log ==="
if [ "$system_rc" -ne 0 ]; then cat "$log"; else tail -n 5 "$log"; fi
if [ "$main_rc" -ne 0 ] || [ "$system_rc" -ne 0 ]; then
    echo "make test: FAILED (main suite exit $main_rc, system tests exit $system_rc)" >&2
    exit 1
fi
echo "make test: all passed"
