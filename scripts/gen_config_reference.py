"""Generate the tables of docs/operations.md from the code, so they cannot drift from it.

Three blocks, each between ``<!-- generated:NAME begin -->`` and ``<!-- generated:NAME end -->``:

- ``config``: every ``GRIDHUB_`` setting — the pydantic ``Settings`` model, each source
  adapter's own ``…Config`` model (nested under its section, ``GRIDHUB_<SOURCE>__<FIELD>``),
  the device bridge's ``BridgeConfig``, CLI options read from the environment, and any other
  ``GRIDHUB_…`` name the production code mentions;
- ``dags``: every DAG in ``dags/`` as Airflow's DagBag parses it: schedule, time zone,
  concurrency, tasks in order, retries, and the first sentence of its documentation
  (rendered by ``dag_reference.py`` beside this script).

    python scripts/gen_config_reference.py            # rewrite the blocks in place
    python scripts/gen_config_reference.py --check    # exit 1 if a block is out of date
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dag_reference import render_dags  # beside this script: sys.path[0] when it runs

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "operations.md"
SCANNED = (
    "gridhub",
    "canonical_model",
    "adapters",
    "resolution",
    "workflow",
    "audit",
    "identity",
    "api",
    "grpc_api",
    "device_bridge",
    "dags",
)
_ENV_NAME = re.compile(r"\bGRIDHUB_[A-Z0-9_]*[A-Z0-9]\b")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Row:
    var: str
    type: str
    default: str
    meaning: str


@dataclass(frozen=True)
class Section:
    title: str
    where: str
    rows: tuple[Row, ...]


# --- rendering a pydantic field ------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type_name(annotation: Any) -> str:
    from pydantic import BaseModel, SecretStr

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner) + (
            ", optional" if len(inner) < len(args) else ""
        )
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" for a in args)
    if origin in (tuple, list):
        item = args[0] if args else Any
        return f"list of {_type_name(item)}"
    if annotation is SecretStr:
        return "secret"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    if origin is dict:
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: Any) -> str:
    marks = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    out = []
    for meta in field.metadata:
        for attr, sign in marks.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value:,}" if isinstance(value, int) else f"{sign} {value}")
    return f" ({', '.join(out)})" if out else ""


def _default(field: Any) -> str:
    from pydantic import BaseModel, SecretStr
    from pydantic_core import PydanticUndefined

    from gridhub.settings import PLACEHOLDER_SECRETS

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if secret.strip().lower() in PLACEHOLDER_SECRETS:
            return f"`{secret}` (placeholder: refused outside development)"
        return f"`{secret}`" if "PWD" not in secret.upper() else "(secret)"
    if isinstance(value, Path):
        path = (
            value.relative_to(REPO) if value.is_absolute() and value.is_relative_to(REPO) else value
        )
        return f"`{path.as_posix()}`"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list):
        return f"`{', '.join(str(v) for v in value)}`" if value else "`[]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{json.dumps(value)}`"
    if isinstance(value, int):
        return f"`{value:,}`".replace(",", "_") if value >= 10_000 else f"`{value}`"
    return f"`{value}`"


def _model_rows(fields: dict[str, Any], prefix: str) -> list[Row]:
    """One row per field; nested models expand under ``PREFIX__FIELD__…``."""
    from pydantic import BaseModel

    rows: list[Row] = []
    for name, field in fields.items():
        annotation = field.annotation
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        nested = inner[0] if len(inner) == 1 else annotation
        var = f"{prefix}{name.upper()}"
        meaning = field.description or ""
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            if nested is not annotation:
                note = f"unset: off; setting any `{var}__…` turns it on"
                rows.append(Row(f"`{var}__…`", "object, optional", "unset", note))
            rows.extend(_model_rows(nested.model_fields, f"{var}__"))
            continue
        items = typing.get_args(nested)
        item = items[0] if typing.get_origin(nested) is tuple and items else None
        if isinstance(item, type) and issubclass(item, BaseModel):
            note = meaning or f"one object per item, with the keys `{var}[].…` below"
            rows.append(Row(f"`{var}`", "JSON list of objects", _default(field), note))
            rows.extend(_model_rows(item.model_fields, f"{var}[]."))
            continue
        shown = f"`{var}`" if "[]." not in var else f"`{var.split('[].')[0]}[].{name}`"
        rows.append(Row(shown, _type_name(annotation) + _bounds(field), _default(field), meaning))
    return rows


# --- the blocks ----------------------------------------------------------------------------


def section_models() -> dict[str, type[Any]]:
    """Each ``Settings`` section (a dict field) → the model that validates it."""
    from device_bridge.config import BridgeConfig
    from gridhub.jobs.sync import config_model
    from gridhub.sources import SOURCES

    models: dict[str, type[Any]] = {
        source: config_model(importlib.import_module(module)) for source, module in SOURCES.items()
    }
    models["device_bridge"] = BridgeConfig
    return models


def config_sections() -> list[Section]:
    from gridhub.settings import Settings

    models = section_models()
    hub_rows: list[Row] = []
    for name, field in Settings.model_fields.items():
        if typing.get_origin(field.annotation) is dict:
            if name not in models:
                raise SystemExit(f"Settings.{name} is a section without a model: add it here")
            continue
        hub_rows.extend(_model_rows({name: field}, "GRIDHUB_"))
    sections = [Section("The hub", "`gridhub/settings.py` — `Settings`", tuple(hub_rows))]
    for name, model in models.items():
        description = Settings.model_fields[name].description or ""
        where = f"`{model.__module__.replace('.', '/')}.py` — `{model.__name__}`"
        rows = _model_rows(model.model_fields, f"GRIDHUB_{name.upper()}__")
        sections.append(Section(f"`{name}`: {description.rstrip('.')}", where, tuple(rows)))
    return sections


def cli_env_rows() -> list[Row]:
    """Options of ``gridhub`` commands that also read a ``GRIDHUB_`` variable."""
    import typer.main

    from gridhub.cli import app

    rows: dict[str, Row] = {}

    def walk(command: Any, path: str) -> None:  # typer vendors its own click: duck-typed
        for param in command.params:
            envvar = param.envvar
            for var in envvar if isinstance(envvar, list | tuple) else [envvar]:
                if isinstance(var, str) and var.startswith("GRIDHUB_"):
                    opt = "/".join(getattr(param, "opts", None) or [str(param.name)])
                    kind = "bool" if getattr(param, "is_flag", False) else "text"
                    help_text = str(getattr(param, "help", "") or "")
                    where = f"`{path} {opt}`"
                    if var in rows:
                        where = f"{rows[var].default}, {where}"
                    rows[var] = Row(f"`{var}`", kind, where, help_text)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "gridhub")
    return [rows[k] for k in sorted(rows)]


def other_env_names(documented: set[str]) -> dict[str, list[str]]:
    """``GRIDHUB_…`` names in the production code that no model or CLI option declares."""
    found: dict[str, set[str]] = {}
    for package in SCANNED:
        for path in sorted((REPO / package).rglob("*.py")):
            for name in _ENV_NAME.findall(path.read_text(encoding="utf-8")):
                if name not in documented and not name.endswith("__"):
                    found.setdefault(name, set()).add(path.relative_to(REPO).as_posix())
    return {k: sorted(v) for k, v in sorted(found.items())}


def _table(rows: list[Row] | tuple[Row, ...], head: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = (row.var, _cell(row.type), _cell(row.default), _cell(row.meaning) or "—")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_config() -> str:
    sections = config_sections()
    cli = cli_env_rows()
    out: list[str] = []
    documented: set[str] = set()
    for section in sections:
        out += [f"### {section.title}", "", f"From {section.where}.", ""]
        out += _table(section.rows, ("variable", "type", "default", "meaning"))
        out.append("")
        documented |= {m for r in section.rows for m in _ENV_NAME.findall(r.var)}
    out += ["### Command-line options read from the environment", ""]
    out += _table(cli, ("variable", "type", "option", "meaning"))
    out.append("")
    documented |= {m for r in cli for m in _ENV_NAME.findall(r.var)}
    others = other_env_names(documented)
    out += ["### Other names the code reads or mentions", ""]
    out += ["| variable | where |", "| --- | --- |"]
    out += [
        f"| `{name}` | {', '.join(f'`{p}`' for p in paths)} |" for name, paths in others.items()
    ]
    if not others:
        out.append("| (none) | |")
    return "\n".join(out).rstrip() + "\n"


RENDERERS = {"config": render_config, "dags": render_dags}


def _block(text: str, name: str) -> tuple[int, int]:
    begin, end = f"<!-- generated:{name} begin -->\n", f"<!-- generated:{name} end -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{name}: markers {begin.strip()} … {end} not found")
    return start + len(begin), stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if out of date.")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--only", choices=sorted(RENDERERS), action="append")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    stale = []
    for name in args.only or sorted(RENDERERS):
        start, stop = _block(text, name)
        fresh = RENDERERS[name]()
        if text[start:stop] != fresh:
            stale.append(name)
            diff = difflib.unified_diff(
                text[start:stop].splitlines(), fresh.splitlines(), "docs", "code", lineterm="", n=0
            )
            if args.check:
                print(f"{name}: out of date", *list(diff)[:40], sep="\n", file=sys.stderr)
            text = text[:start] + fresh + text[stop:]
    if args.check:
        if stale:
            print("run: python scripts/gen_config_reference.py", file=sys.stderr)
        return 1 if stale else 0
    args.doc.write_text(text, encoding="utf-8")
    print(f"{args.doc}: {', '.join(stale) or 'nothing'} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
