"""The repository layout promises of ARCHITECTURE.md, checked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_import_grpc_from_the_repository_root_gives_grpcio() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import grpc, sys; print(grpc.__file__); print(grpc.__version__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "site-packages" in out[0]
    assert out[1][0].isdigit()
    assert not (REPO / "grpc" / "__init__.py").exists()


# Which project packages each package may import (ARCHITECTURE.md, "Rooms").
ALLOWED: dict[str, set[str]] = {
    "canonical_model": set(),
    "identity": set(),
    "adapters": {"canonical_model", "audit"},
    "resolution": {"canonical_model"},
    "workflow": {"canonical_model", "resolution"},
    "audit": {"canonical_model"},
    "device_bridge": {"canonical_model", "workflow", "audit"},
    "simulators": {"canonical_model"},
}
PROJECT = {
    "canonical_model",
    "identity",
    "adapters",
    "resolution",
    "workflow",
    "audit",
    "api",
    "device_bridge",
    "dags",
    "simulators",
    "gridhub",
    "bench",
    "grpc_api",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED), ids=str)
def test_packages_import_only_what_the_architecture_allows(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) - ALLOWED[package] - {package})
        for path in (REPO / package).rglob("*.py")
        if _imports(path) - ALLOWED[package] - {package}
    }
    assert offenders == {}
