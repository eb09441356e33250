"""The `gridhub audit` CLI under test: its settings in a temporary var dir, and one way to run it.

Import ``settings_env`` into a test module to use it there (it is autouse).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridhub.cli.audit import app
from gridhub.settings import get_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GRIDHUB_ENVIRONMENT", "test")
    monkeypatch.setenv("GRIDHUB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRIDHUB_KEY_PASSPHRASE", "audit-cli-test-passphrase-91b2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_cli(*args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gridhub audit ARGS``."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr
