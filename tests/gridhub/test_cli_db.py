"""The `gridhub` console script, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GRIDHUB = str(Path(sys.executable).with_name("gridhub"))


def run(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDHUB_DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([GRIDHUB, *args], capture_output=True, text=True, env=env, check=False)


def test_version() -> None:
    out = subprocess.run([GRIDHUB, "version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("gridhub 0.")


def test_check_fails_before_upgrade_and_passes_after(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    before = run("db", "check", db=db)
    assert before.returncode == 1
    assert "gridhub db upgrade" in before.stderr
    up = run("db", "upgrade", db=db)
    assert up.returncode == 0, up.stderr
    after = run("db", "check", db=db)
    assert after.returncode == 0, after.stderr
    assert "schema ok" in after.stdout
    summary = run("db", "summary", db=db)
    assert "person" in summary.stdout


@pytest.mark.parametrize("group", ["db"])
def test_groups_have_help(group: str) -> None:
    out = subprocess.run([GRIDHUB, group, "--help"], capture_output=True, text=True, check=True)
    assert "Usage" in out.stdout
