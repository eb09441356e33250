"""The committed stubs are exactly what ``make proto`` generates, and the contract is clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "grpc" / "protos" / "gridhub" / "v1"


def test_regenerating_the_stubs_gives_identical_files() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_proto.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generated_imports_never_name_the_gridhub_app_package() -> None:
    generated = (REPO / "grpc_api" / "gen").rglob("*")
    sources = [p for p in generated if p.suffix in (".py", ".pyi")]  # not compiled bytecode
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "from gridhub." not in text, path
        assert "import gridhub." not in text, path


def test_the_contract_folder_stays_a_non_package() -> None:
    assert not (REPO / "grpc" / "__init__.py").exists()
    assert not any(p.suffix == ".py" for p in (REPO / "grpc").rglob("*"))


def test_every_proto_declares_the_package_and_documents_its_services() -> None:
    for proto in sorted(PROTOS.glob("*.proto")):
        text = proto.read_text(encoding="utf-8")
        assert "package gridhub.v1;" in text, proto.name
        assert 'syntax = "proto3";' in text, proto.name
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("rpc "):
                assert lines[i - 1].strip().startswith("//"), f"{proto.name}:{i + 1} undocumented"
