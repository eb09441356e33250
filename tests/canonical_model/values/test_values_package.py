"""The values package is the ground floor: public API and import hygiene."""

from __future__ import annotations

import ast
from pathlib import Path

import canonical_model.values as values
from canonical_model.values import InvalidAddress, InvalidName, InvalidPhone, InvalidResidentId

VALUES_DIR = Path(values.__file__).parent
PROJECT_PACKAGES = {
    "gridhub",
    "adapters",
    "resolution",
    "workflow",
    "audit",
    "identity",
    "api",
    "device_bridge",
    "dags",
    "simulators",
}


def test_all_names_are_exported() -> None:
    for name in values.__all__:
        assert hasattr(values, name), name
    expected = {
        "InvalidValue", "InvalidResidentId", "InvalidPhone", "InvalidAddress", "InvalidName",
        "to_halfwidth", "to_simplified", "cn_numeral_to_int", "fold",
        "ResidentId", "check_digit", "upgrade_legacy", "parse_resident_id",
        "is_valid_resident_id", "Phone", "parse_phone", "AddressParts", "parse_address",
        "normalize_address", "normalize_name", "pinyin_key", "initials_key", "split_surname",
    }  # fmt: skip
    assert expected <= set(values.__all__)


def _imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{source.name}: relative import")
    return found


def test_imports_no_other_project_package() -> None:
    """Static, because the parent ``canonical_model`` package (the ORM) is free to import
    more; what matters is that nothing under ``values`` reaches outside it."""
    sources = sorted(VALUES_DIR.glob("*.py"))
    assert len(sources) >= 7
    leaked = {
        f"{source.name}: {module}"
        for source in sources
        for module in _imported_modules(source)
        if module.split(".")[0] in PROJECT_PACKAGES
        or (
            module.startswith("canonical_model") and not module.startswith("canonical_model.values")
        )
    }
    assert leaked == set()


def test_error_classes_name_their_field() -> None:
    for cls, field in [
        (InvalidResidentId, "resident_id"),
        (InvalidPhone, "phone"),
        (InvalidAddress, "address"),
        (InvalidName, "name"),
    ]:
        err = cls("empty", "nothing given")
        assert (err.field, err.reason, str(err)) == (field, "empty", f"{field}: nothing given")
    relabelled = InvalidPhone("length", "too short", field="guardian_phone")
    assert str(relabelled) == "guardian_phone: too short"
