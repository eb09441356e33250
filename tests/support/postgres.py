"""A real PostgreSQL for the tests: a migrated template database, cloned per test.

Cloning a template (``CREATE DATABASE … TEMPLATE``) costs a few tens of milliseconds, so
every test gets a clean, migrated database without paying for the migrations again.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

HOST = os.environ.get("GRIDHUB_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("GRIDHUB_TEST_PG_PORT", "5432"))
USER = os.environ.get("GRIDHUB_TEST_PG_USER", getpass.getuser())


def _admin_dsn(dbname: str = "postgres") -> str:
    return f"host={HOST} port={PORT} user={USER} dbname={dbname} connect_timeout=5"


def url_for(dbname: str) -> str:
    return f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{dbname}"


def ensure_running() -> None:
    """Start the machine's cluster if it is down (the set-up normally has done so)."""
    try:
        psycopg.connect(_admin_dsn(), autocommit=True).close()
        return
    except psycopg.OperationalError:
        pass
    if shutil.which("pg_ctlcluster") and os.path.isdir("/etc/postgresql"):
        for version in sorted(os.listdir("/etc/postgresql")):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
            )
    for _ in range(30):
        try:
            psycopg.connect(_admin_dsn(), autocommit=True).close()
            return
        except psycopg.OperationalError:
            time.sleep(1)
    raise RuntimeError(f"PostgreSQL is not reachable on {HOST}:{PORT}: run `make setup`")


def create_database(template: str | None = None) -> str:
    name = f"gridhub_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def temporary_database(template: str | None = None) -> Iterator[str]:
    name = create_database(template)
    try:
        yield name
    finally:
        drop_database(name)
