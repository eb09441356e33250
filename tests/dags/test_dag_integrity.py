"""Every DAG file imports cleanly and stays thin."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert "store_maintenance" in dagbag.dag_ids


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_files_hold_no_business_logic(path: Path) -> None:
    """DAG modules may only import airflow, the stdlib and gridhub job functions (in tasks)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level_imports = {
        (node.module or "").split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert top_level_imports <= {"__future__", "airflow", "datetime", "typing", "pendulum"}
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    for fn in functions:
        assert len(fn.body) <= 25, f"{fn.name} in {path.name} is too long for a DAG file"
