"""``gridhub demo`` refuses clearly before touching anything: taken ports, bad --port."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from gridhub.cli import app


def test_a_taken_port_stops_the_demo_before_it_starts(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--persons", "100", "--var-dir", str(tmp_path), "--port", f"grpc={port}"]
        )
    assert result.exit_code == 2
    assert f"grpc 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "demo").exists()  # nothing generated, nothing removed


def test_a_malformed_port_option_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--var-dir", str(tmp_path), "--port", "web=80"])
    assert result.exit_code == 2
    assert "NAME=PORT" in result.output
    assert not (tmp_path / "demo").exists()
