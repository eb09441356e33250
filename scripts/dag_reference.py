"""The ``dags`` block of docs/operations.md: every DAG in ``dags/`` as Airflow's DagBag parses it.

Schedule (in words, with its time zone), concurrency, tasks in dependency order, retries and
the first sentence of the DAG's documentation. Apart from the settings tables
(``gen_config_reference.py``, which calls :func:`render_dags`) because it needs Airflow and
the DAG folder, not the settings models.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

__all__ = ["dag_rows", "render_dags"]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _every(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return "every hour" if hours == 1 else f"every {hours} h"
    return f"every {minutes} min"


def _cron(expression: str) -> str:
    presets = {"@hourly": "0 * * * *", "@daily": "0 0 * * *"}
    fields = presets.get(expression, expression).split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"]:
        minute, hour = fields[0], fields[1]
        if hour == "*" and minute.startswith("*/"):
            return f"every {minute[2:]} min"
        if hour == "*" and minute.replace(",", "").isdigit():
            return "hourly at " + " and ".join(f":{int(m):02d}" for m in minute.split(","))
        if minute.isdigit() and hour.isdigit():
            return f"daily at {int(hour):02d}:{int(minute):02d}"
    return f"cron `{expression}`"


def _first_sentence(doc: str | None) -> str:
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    match = re.match(r"(.+?[.。])(\s|$)", paragraph)
    return (match.group(1) if match else paragraph) or "—"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _stages(ordered: list[Any]) -> str:
    """Tasks by dependency depth: ``a`` → {``b``, ``c``} when b and c both follow a."""
    depth: dict[str, int] = {}
    for task in ordered:
        depth[task.task_id] = 1 + max((depth[u] for u in task.upstream_task_ids), default=-1)
    stages: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for task in ordered:
        stages[depth[task.task_id]].append(f"`{task.task_id}`")
    return " → ".join(s[0] if len(s) == 1 else "{" + ", ".join(s) + "}" for s in stages)


def dag_rows() -> list[list[str]]:
    os.environ.setdefault("AIRFLOW_HOME", str(REPO))
    os.environ.setdefault("AIRFLOW_CONFIG", str(REPO / "airflow.cfg"))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {sorted(bag.import_errors)}")
    rows = []
    for dag in sorted(bag.dags.values(), key=lambda d: d.dag_id):
        schedule = dag.schedule
        if isinstance(schedule, timedelta):
            when = _every(schedule)
        elif isinstance(schedule, str):
            serialized: dict[str, Any] = getattr(dag.timetable, "serialize", dict)()
            zone = serialized.get("timezone") or str(dag.timezone)
            when = f"{_cron(schedule)} ({zone}; `{schedule}`)"
        else:
            when = str(schedule)
        retries = dag.default_args.get("retries", 0)
        tasks = _stages(dag.topological_sort())  # type: ignore[no-untyped-call]
        timeout = f", run timeout {dag.dagrun_timeout}" if dag.dagrun_timeout else ""
        rows.append(
            [
                f"`{dag.dag_id}`",
                when,
                f"{_plural(dag.max_active_runs, 'run')}, "
                f"{_plural(dag.max_active_tasks, 'task')}{timeout}",
                tasks,
                str(retries),
                _first_sentence(dag.doc_md),
            ]
        )
    return rows


def render_dags() -> str:
    head = ("DAG", "when it runs", "at most at once", "tasks, in order", "retries", "what it does")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in dag_rows()]
    return "\n".join(lines) + "\n"
