"""Read models for people who plan: demand and resources per grid, and service ledgers.

The grid summary is counts only (residents by tag, open tasks by category, providers), so
a map can colour grids by need without any personal data leaving the hub; it carries each
grid's code for the map to join to its polygons. The service ledger (服务台账) is what a
social organisation hands in for a period: one line per task it took, with times, result
and rating, exportable as CSV (UTF-8 with BOM, so Excel shows the Chinese correctly).
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select, text, true
from sqlalchemy.orm import Session

from canonical_model import (
    GridLevel,
    GridUnit,
    Person,
    PersonStatus,
    Task,
    TaskFeedback,
    TaskTransition,
)
from canonical_model.roster import GridWorker, ServiceOrganisation
from workflow.transitions import OPEN_STATES

__all__ = ["DEMAND_TAGS", "LedgerRow", "grid_summary", "ledger_csv", "service_ledger"]

DEMAND_TAGS = ("living_alone", "dibao", "disabled", "tekun")


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    name = f"tag_{tag}"
    if session.get_bind().dialect.name == "postgresql":
        sql = f"person.tags @> jsonb_build_array(CAST(:{name} AS text))"
    else:
        sql = f"EXISTS (SELECT 1 FROM json_each(person.tags) WHERE json_each.value = :{name})"
    return text(sql).bindparams(bindparam(name, tag)).self_group()  # type: ignore[return-value]


def _in_scope(column: Any, scope: str | None) -> ColumnElement[bool]:
    return column.startswith(scope) if scope else true()


def grid_summary(session: Session, *, scope: str | None = None, on: date) -> dict[str, Any]:
    """Per grid: residents aged 80+ and by tag, open tasks by category, workers, orgs."""
    grids = session.execute(
        select(GridUnit.code, GridUnit.name)
        .where(GridUnit.level == GridLevel.GRID)
        .where(_in_scope(GridUnit.code, scope))
        .order_by(GridUnit.code)
    ).all()
    eighty = on.replace(year=on.year - 80) if not (on.month == 2 and on.day == 29) else None
    cutoff = eighty or date(on.year - 80, 2, 28)
    columns: list[Any] = [
        Person.grid_code,
        func.count().label("residents"),
        func.count().filter(Person.birth_date <= cutoff).label("aged_80_plus"),
        *(func.count().filter(_has_tag(session, tag)).label(tag) for tag in DEMAND_TAGS),
    ]
    people = {
        row.grid_code: row._mapping
        for row in session.execute(
            select(*columns)
            .where(Person.status == PersonStatus.ACTIVE, Person.merged_into_id.is_(None))
            .where(_in_scope(Person.grid_code, scope))
            .group_by(Person.grid_code)
        )
    }
    open_tasks: dict[str, dict[str, int]] = {}
    for code, category, n in session.execute(
        select(Task.grid_code, Task.category, func.count())
        .where(Task.state.in_(OPEN_STATES))
        .where(_in_scope(Task.grid_code, scope))
        .group_by(Task.grid_code, Task.category)
    ):
        open_tasks.setdefault(code or "", {})[category] = int(n)
    workers: dict[str, dict[str, int]] = {}
    for code, on_duty, n in session.execute(
        select(GridWorker.grid_code, GridWorker.on_duty, func.count())
        .where(GridWorker.active.is_(True), GridWorker.role == "grid_worker")
        .group_by(GridWorker.grid_code, GridWorker.on_duty)
    ):
        entry = workers.setdefault(code, {"total": 0, "on_duty": 0})
        entry["total"] += int(n)
        entry["on_duty"] += int(n) if on_duty else 0
    orgs = session.scalars(
        select(ServiceOrganisation).where(ServiceOrganisation.active.is_(True))
    ).all()
    out = []
    for code, name in grids:
        counts = people.get(code)
        residents = {k: int(counts[k]) if counts else 0 for k in ("residents", "aged_80_plus")}
        residents.update({tag: int(counts[tag]) if counts else 0 for tag in DEMAND_TAGS})
        tasks = open_tasks.get(code, {})
        out.append(
            {
                "code": code,
                "name": name,
                "residents": residents,
                "open_tasks": dict(sorted(tasks.items())),
                "open_total": sum(tasks.values()),
                "workers": workers.get(code, {"total": 0, "on_duty": 0}),
                "organisations": [
                    {"code": o.code, "name": o.name, "categories": list(o.categories or [])}
                    for o in orgs
                    if any(code.startswith(a) for a in (o.area_codes or []))
                ],
            }
        )
    return {"as_of": on.isoformat(), "scope": scope, "grids": out}


@dataclass(frozen=True, slots=True)
class LedgerRow:
    task: str
    category: str
    title: str
    grid_code: str
    state: str
    created_at: str
    accepted_at: str
    completed_at: str
    deadline: str
    on_time: str
    result: str
    rating: str


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else ""


def service_ledger(
    session: Session, org_code: str, *, start: datetime, end: datetime
) -> list[LedgerRow]:
    """服务台账: every task the organisation took that was created in [start, end)."""

    def at(action: str) -> Any:
        return (
            select(func.max(TaskTransition.at))
            .where(TaskTransition.task_id == Task.id, TaskTransition.action == action)
            .scalar_subquery()
        )

    result = (
        select(TaskFeedback.result)
        .where(TaskFeedback.task_id == Task.id)
        .order_by(TaskFeedback.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Task, at("accept"), at("complete"), result)
        .where(
            Task.assignee_kind == "org",
            Task.assignee == org_code,
            Task.created_at >= start,
            Task.created_at < end,
        )
        .order_by(Task.created_at, Task.id)
    ).all()
    ledger = []
    for task, accepted, completed, outcome in rows:
        on_time = ""
        if completed is not None and task.sla_deadline is not None:
            on_time = "yes" if completed <= task.sla_deadline else "no"
        ledger.append(
            LedgerRow(
                task=task.uid,
                category=task.category,
                title=task.title,
                grid_code=task.grid_code or "",
                state=str(task.state),
                created_at=_iso(task.created_at),
                accepted_at=_iso(accepted),
                completed_at=_iso(completed),
                deadline=_iso(task.sla_deadline),
                on_time=on_time,
                result=outcome or "",
                rating="" if task.rating is None else str(task.rating),
            )
        )
    return ledger


def ledger_csv(rows: list[LedgerRow]) -> str:
    """The ledger as CSV text; write it with ``encoding="utf-8-sig"`` for Excel."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in fields(LedgerRow)])
    writer.writerows(astuple(row) for row in rows)
    return buffer.getvalue()
