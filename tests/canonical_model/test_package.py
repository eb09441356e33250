"""The package loads its entity modules on first use (PEP 562), all of them at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import canonical_model

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_value_types_import_without_the_orm() -> None:
    out = _run(
        """
        import sys
        import canonical_model.values
        print(sorted(m for m in ("sqlalchemy", "canonical_model.base") if m in sys.modules))
        """
    )
    assert out == "[]"


def test_first_use_registers_every_table_of_every_entity_module() -> None:
    # Compared with importing every module of the package by hand: an entity module that
    # is missing from the lazy loader would leave its tables out of Base.metadata.
    out = _run(
        """
        import importlib, pkgutil
        from canonical_model import Base
        lazy = set(Base.metadata.tables)
        import canonical_model
        for info in pkgutil.iter_modules(canonical_model.__path__):
            if info.name not in ("store", "migrations", "values"):
                importlib.import_module(f"canonical_model.{info.name}")
        print(len(lazy), sorted(set(Base.metadata.tables) - lazy))
        """
    )
    count, missing = out.split(" ", 1)
    assert missing == "[]"
    assert int(count) > 20


@pytest.mark.parametrize("name", canonical_model.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    value = getattr(canonical_model, name)
    assert value is not None
    assert name in dir(canonical_model)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchEntity"):
        _ = canonical_model.NoSuchEntity
