"""``gridhub serve``: the default number of workers follows the store; the serving knobs
reach every worker."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from api import ApiConfig
from gridhub.cli import app as cli
from gridhub.cli.serve import api_config, default_workers


def test_sqlite_serves_from_one_process() -> None:
    assert default_workers("sqlite:////tmp/gridhub.db") == 1


def test_postgresql_serves_from_one_process_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert default_workers("postgresql+psycopg://u@127.0.0.1/db") == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert default_workers("postgresql+psycopg://u@127.0.0.1/db") == 16
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_workers("postgresql+psycopg://u@127.0.0.1/db") == 1


def test_serving_knobs_reach_each_worker_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``--db-reads``, ``--streams`` and ``--durable-read-logs`` set in the parent, every
    (spawned) worker process builds its config from — and the bench servers with it."""
    for name in ("GRIDHUB_DB_ACTIVE_READS", "GRIDHUB_GRPC_STREAMS", "GRIDHUB_DURABLE_READ_LOGS"):
        monkeypatch.delenv(name, raising=False)
    assert api_config() == ApiConfig()
    monkeypatch.setenv("GRIDHUB_DB_ACTIVE_READS", "3")
    monkeypatch.setenv("GRIDHUB_GRPC_STREAMS", "5")
    monkeypatch.setenv("GRIDHUB_DURABLE_READ_LOGS", "1")
    assert api_config() == ApiConfig(db_active_reads=3, grpc_streams=5, durable_read_logs=True)


def test_db_reads_must_be_at_least_one() -> None:
    result = CliRunner().invoke(cli, ["serve", "grpc", "--db-reads", "0"])
    assert result.exit_code == 2
    assert "--db-reads" in result.output


def test_no_read_slots_is_refused_at_start_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--db-reads`` refuses 0; the variable set by hand is checked when a worker starts."""
    monkeypatch.setenv("GRIDHUB_DB_ACTIVE_READS", "0")
    with pytest.raises(ValueError, match="db_active_reads must be at least 1"):
        api_config()
