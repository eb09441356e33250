"""Keep the README's benchmark table equal to ``latest.json``: the text between two markers is
rewritten, nothing else is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import table

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


class MarkersMissing(ValueError):
    pass


def block(report: dict[str, Any]) -> str:
    """What stands between the markers: the table and its conditions."""
    note = "<!-- written by `python -m bench --update-readme` from bench/results/latest.json -->"
    return f"{BEGIN}\n{note}\n\n{table.markdown(report)}\n{END}"


def rewrite(text: str, report: dict[str, Any]) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise MarkersMissing(f"the README needs {BEGIN} … {END} around the benchmark table")
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise MarkersMissing("the README has more than one benchmark marker block")
    return text[:start] + block(report) + text[end + len(END) :]


def update(path: Path, report: dict[str, Any]) -> bool:
    """Rewrite the block in ``path``; True if the file changed."""
    text = path.read_text(encoding="utf-8")
    new = rewrite(text, report)
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
