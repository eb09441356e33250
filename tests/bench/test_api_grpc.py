"""``python -m bench.api --only grpc``: a tiny real run, from h2load and from the fallback.

Each figure must name its client and carry the CPU per call of server, PostgreSQL and
client; the phase itself fails when the read log does not hold one entry per call.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
@pytest.mark.parametrize("client", ["h2load", "python"])
def test_a_tiny_grpc_phase_names_its_client_and_its_cpu(client: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.api", "--persons", "2000", "--only", "grpc",
         "--no-write", "--duration", "1", "--workers", "1", "--grpc-client", client],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    row = next(line for line in out.stdout.splitlines() if line.startswith("| gRPC GetPerson"))
    assert f"client {client}" in row
    # h2load spreads its connections over the processes' own ports (one process here: its own)
    assert ("ports own" if client == "h2load" else "ports shared") in row
    for key in ("server_cpu", "db_cpu", "client_cpu", "total_cpu"):
        assert f"{key}_ms_per_request" in row
