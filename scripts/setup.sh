#!/usr/bin/env bash
# Idempotent set-up for a fresh machine of this type: Debian packages, local servers, the venv.
# Every step checks before it acts, so a warm machine passes through in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- Debian packages -------------------------------------------------------------------------
need_pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# wrk (HTTP) and h2load (nghttp2-client, gRPC over HTTP/2): C load generators for bench/, so the
# load process does not take the CPU the servers are measured on.
for p in unixodbc libsqliteodbc odbc-postgresql postgresql mosquitto wrk nghttp2-client; do
  have_pkg "$p" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# --- local servers ---------------------------------------------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "starting PostgreSQL"
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -z "$ver" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    $SUDO pg_createcluster "$ver" main >/dev/null
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
# The tests connect as the OS user over TCP; make sure a role and a database exist for them.
if command -v psql >/dev/null; then
  me=$(id -un)
  if ! psql -h 127.0.0.1 -U "$me" -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    log "creating PostgreSQL role $me"
    su postgres -c "psql -q -c \"CREATE ROLE \\\"$me\\\" SUPERUSER LOGIN\"" 2>/dev/null || true
    su postgres -c "createdb -O \"$me\" \"$me\"" 2>/dev/null || true
  fi
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  log "starting Mosquitto"
  if [ -f /etc/mosquitto/mosquitto.conf ]; then mosquitto -d -c /etc/mosquitto/mosquitto.conf; else mosquitto -d; fi
fi

# --- Python ----------------------------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $PY"
  "$PY" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q uv
fi
stamp=.venv/.gridhub-installed
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing Python packages from requirements.lock"
  VIRTUAL_ENV=.venv .venv/bin/uv pip install -q -r requirements.lock
  VIRTUAL_ENV=.venv .venv/bin/uv pip install -q --no-deps -e .
  touch "$stamp"
fi
# Bytecode, written once here. uv installs without it, and machines of this type export
# PYTHONDONTWRITEBYTECODE=1, so without this step every Python process — each CLI call, each
# Airflow task, each process a test or the demo starts — compiled every module it imported
# from source again: 2.6 of the 4.2 s of a `gridhub db check`. compileall writes .pyc files
# whatever that variable says; a source edited later is simply compiled in memory again
# (the .pyc records the source's mtime and size), so a stale file is never used.
compiled=.venv/.gridhub-compiled
if [ ! -f "$compiled" ] || [ "$stamp" -nt "$compiled" ]; then
  log "compiling the installed packages to bytecode"
  .venv/bin/python -m compileall -q -j 0 .venv/lib/python*/site-packages >/dev/null || true
  touch "$compiled"
fi
# The project's own modules: a second or less when nothing changed (only newer sources are
# compiled again). Not the tests: pytest rewrites and compiles those itself.
.venv/bin/python -m compileall -q -j 0 -x '/(\.venv|\.git|tests|var)/' . >/dev/null || true
mkdir -p var
log "ready"
