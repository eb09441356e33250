"""docs/operations.md's generated tables against the code: the settings models and the DagBag."""

from __future__ import annotations

import importlib
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from gridhub.jobs.sync import config_model
from gridhub.settings import Settings
from gridhub.sources import SOURCES

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_config_reference.py"
DOC = REPO / "docs" / "operations.md"


def block(text: str, name: str) -> str:
    start = text.index(f"<!-- generated:{name} begin -->")
    return text[start : text.index(f"<!-- generated:{name} end -->", start)]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_the_doc_matches_the_code() -> None:
    out = run("--check")
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        pytest.param(
            "config",
            "| `GRIDHUB_SYNC_CHECKPOINT_EVERY` | int (≥ 1) | `500` |",
            "| `GRIDHUB_SYNC_CHECKPOINT_EVERY` | int (≥ 1) | `400` |",
            id="config",
        ),
        pytest.param(
            "dags", "| `hukou_sync` | every 15 min |", "| `hukou_sync` | hourly |", id="dags"
        ),
    ],
)
def test_check_fails_on_a_stale_table(tmp_path: Path, name: str, old: str, new: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert old in block(text, name)
    stale = tmp_path / "operations.md"
    stale.write_text(text.replace(old, new), encoding="utf-8")
    out = run("--check", "--only", name, "--doc", str(stale))
    assert out.returncode == 1
    assert f"{name}: out of date" in out.stderr
    assert stale.read_text(encoding="utf-8") != text  # --check never rewrites
    fixed = run("--only", name, "--doc", str(stale))
    assert fixed.returncode == 0, fixed.stderr
    assert block(stale.read_text(encoding="utf-8"), name) == block(text, name)


def _expected(model: type[BaseModel], prefix: str) -> set[str]:
    names = set()
    for field, info in model.model_fields.items():
        names.add(f"{prefix}{field.upper()}")
        inner = [a for a in typing.get_args(info.annotation) if a is not type(None)]
        nested = inner[0] if len(inner) == 1 else info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names |= _expected(nested, f"{prefix}{field.upper()}__")
    return names


def test_every_setting_of_every_model_is_documented() -> None:
    from device_bridge.config import BridgeConfig

    doc = block(DOC.read_text(encoding="utf-8"), "config")
    expected = {
        f"GRIDHUB_{name.upper()}"
        for name, info in Settings.model_fields.items()
        if typing.get_origin(info.annotation) is not dict
    }
    for source, module in SOURCES.items():
        expected |= _expected(
            config_model(importlib.import_module(module)), f"GRIDHUB_{source.upper()}__"
        )
    expected |= _expected(BridgeConfig, "GRIDHUB_DEVICE_BRIDGE__")
    missing = sorted(v for v in expected if f"`{v}`" not in doc and f"`{v}__" not in doc)
    assert missing == []
    assert len(expected) > 100


def test_every_dag_file_has_a_row() -> None:
    doc = block(DOC.read_text(encoding="utf-8"), "dags")
    stems = {p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_")}
    assert stems
    assert {s for s in stems if f"| `{s}` |" not in doc} == set()


def test_the_readme_points_to_the_guide() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ops = readme.index("## Operations")
    assert ops < readme.index("## Tests")
    assert "docs/operations.md" in readme[ops : readme.index("## Tests")]
