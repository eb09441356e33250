"""``gridhub serve api --workers``: the default follows the store."""

from __future__ import annotations

import os

import pytest

from gridhub.cli.serve import default_workers


def test_sqlite_serves_from_one_process() -> None:
    assert default_workers("sqlite:////tmp/gridhub.db") == 1


def test_postgresql_serves_from_one_process_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert default_workers("postgresql+psycopg://u@127.0.0.1/db") == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert default_workers("postgresql+psycopg://u@127.0.0.1/db") == 16
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_workers("postgresql+psycopg://u@127.0.0.1/db") == 1
