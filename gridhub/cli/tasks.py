"""``gridhub tasks``: the task inbox, the lifecycle, rules, measures and ledgers.

Every command is a thin caller of ``workflow`` or ``gridhub.jobs.workflow`` (the same
functions the DAGs run). Output names tasks by uid and people by nothing: codes, counts
and states only. Refusals (an illegal transition, a lost race, a broken rules file) are
printed as one line on stderr with exit code 1 (2 for a rules file that does not parse).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from canonical_model import Task

app = typer.Typer(
    help="Tasks (工单) for grid workers: lifecycle, rules, measures.", no_args_is_help=True
)
rules_app = typer.Typer(help="The rules that turn events into tasks.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Database URL (default: GRIDHUB_DATABASE_URL).")
]
Actor = Annotated[str, typer.Option("--actor", help="Who acts: a worker, org or admin code.")]
Role = Annotated[
    str,
    typer.Option("--role", help="grid_worker, org, requester, community_admin, district_admin."),
]


@contextmanager
def _session(url: str | None) -> Iterator[Session]:
    """One transaction; workflow refusals become a one-line error and exit code 1."""
    from canonical_model.store import transaction
    from gridhub.wiring import sessions
    from workflow.errors import WorkflowError

    try:
        with transaction(sessions(url)) as s:
            yield s
    except WorkflowError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _line(task: Task) -> str:
    deadline = task.sla_deadline.isoformat(timespec="minutes") if task.sla_deadline else "-"
    return (
        f"{task.uid}  {task.state!s:<11} {task.category:<20} {task.grid_code or '-':<15} "
        f"{task.assignee_kind}:{task.assignee or '(queue)':<18} due {deadline} "
        f"esc {task.escalation_level}"
    )


def _act(url: str | None, fn: Callable[..., Task], uid: str, **kwargs: Any) -> None:
    with _session(url) as s:
        task = fn(s, uid, **kwargs)
        typer.echo(_line(task))


@app.command("list")
def list_tasks(
    assignee: Annotated[str | None, typer.Option(help="Worker or org code.")] = None,
    grid: Annotated[str | None, typer.Option(help="Unit code prefix (grid, community…).")] = None,
    state: Annotated[str | None, typer.Option(help="pending, accepted, in_progress…")] = None,
    limit: int = 50,
    url: UrlOption = None,
) -> None:
    """Tasks, soonest deadline first."""
    from sqlalchemy import select

    from canonical_model import Task

    query = select(Task).order_by(Task.sla_deadline, Task.id).limit(limit)
    if assignee:
        query = query.where(Task.assignee == assignee)
    if grid:
        query = query.where(Task.grid_code.startswith(grid))
    if state:
        query = query.where(Task.state == state)
    with _session(url) as s:
        for task in s.scalars(query):
            typer.echo(_line(task))


@app.command()
def show(uid: str, url: UrlOption = None) -> None:
    """One task: its history and how its write-backs stand."""
    from workflow.lifecycle import get_task
    from workflow.outbox import delivery_status

    with _session(url) as s:
        task = get_task(s, uid)
        typer.echo(_line(task))
        typer.echo(f"title: {task.title}  priority: {task.priority}  rating: {task.rating or '-'}")
        for t in task.transitions:
            typer.echo(
                f"  {t.at.isoformat(timespec='seconds')} {t.action:<11} "
                f"{t.from_state or '-'} -> {t.to_state} by {t.actor} ({t.actor_role or '-'})"
                + (f": {t.reason}" if t.reason else "")
            )
        for d in delivery_status(s, task.id):
            typer.echo(
                f"  write-back {d.operation} to {d.destination}: {d.state}, "
                f"{d.attempts} attempt(s)"
                + (f", last error: {d.last_error}" if d.last_error else "")
            )


@app.command()
def accept(uid: str, actor: Actor, role: Role = "grid_worker", url: UrlOption = None) -> None:
    """已接单."""
    from workflow import lifecycle

    _act(url, lifecycle.accept, uid, actor=actor, role=role)


@app.command()
def reject(
    uid: str,
    actor: Actor,
    reason: Annotated[str, typer.Option(help="Why (required).")],
    role: Role = "grid_worker",
    url: UrlOption = None,
) -> None:
    """已拒绝: the task goes on to another worker or the community queue."""
    from workflow import lifecycle

    _act(url, lifecycle.reject, uid, actor=actor, role=role, reason=reason)


@app.command()
def start(uid: str, actor: Actor, role: Role = "grid_worker", url: UrlOption = None) -> None:
    from workflow import lifecycle

    _act(url, lifecycle.start, uid, actor=actor, role=role)


@app.command()
def complete(
    uid: str,
    actor: Actor,
    result: Annotated[str, typer.Option(help="resolved, unresolved, referred…")] = "resolved",
    notes: str | None = None,
    photo: Annotated[list[Path] | None, typer.Option(help="Photo file (repeatable).")] = None,
    lat: float | None = None,
    lon: float | None = None,
    role: Role = "grid_worker",
    url: UrlOption = None,
) -> None:
    """已完成, with notes, photos and location."""
    from gridhub.jobs.workflow import photo_store
    from workflow import lifecycle
    from workflow.attachments import Photo

    photos = [
        Photo(p.read_bytes(), "image/png" if p.suffix.lower() == ".png" else "image/jpeg")
        for p in photo or []
    ]
    location = (lat, lon) if lat is not None and lon is not None else None
    _act(
        url,
        lifecycle.complete,
        uid,
        actor=actor,
        role=role,
        result=result,
        notes=notes,
        photos=photos,
        location=location,
        store=photo_store(),
    )


@app.command()
def close(
    uid: str,
    actor: Actor,
    rating: Annotated[int | None, typer.Option(min=1, max=5, help="1–5 stars.")] = None,
    comment: str | None = None,
    role: Role = "requester",
    url: UrlOption = None,
) -> None:
    """The requester confirms (and rates); admins may close without a rating."""
    from workflow import lifecycle

    _act(url, lifecycle.close, uid, actor=actor, role=role, rating=rating, comment=comment)


@app.command()
def escalate(uid: str, actor: Actor, role: Role = "community_admin", url: UrlOption = None) -> None:
    from workflow import lifecycle

    _act(url, lifecycle.escalate, uid, actor=actor, role=role)


@app.command()
def reassign(
    uid: str,
    to: Annotated[str, typer.Option(help="Worker code.")],
    actor: Actor,
    role: Role = "community_admin",
    reason: str | None = None,
    url: UrlOption = None,
) -> None:
    from workflow import lifecycle

    _act(url, lifecycle.reassign, uid, to=to, actor=actor, role=role, reason=reason)


@rules_app.command("load")
def rules_load(
    file: Path,
    actor: Annotated[str, typer.Option("--actor", help="Who loads it.")] = "cli",
    url: UrlOption = None,
) -> None:
    """Store FILE as the active rules; a broken file is refused, the old rules stay."""
    from workflow.errors import RulesError
    from workflow.rule_versions import load_rules
    from workflow.rules import parse_rules

    text = file.read_text(encoding="utf-8")
    try:
        parse_rules(text, file.name)  # refuse before touching the store
    except RulesError as exc:
        typer.echo(f"error: {exc} (the rules in force are unchanged)", err=True)
        raise typer.Exit(2) from None
    with _session(url) as s:
        row = load_rules(s, text, loaded_by=actor, source_name=file.name)
        typer.echo(f"rules v{row.version} active (sha256 {row.sha256[:12]})")


@rules_app.command("show")
def rules_show(url: UrlOption = None) -> None:
    """The rules in force and the stored versions."""
    from workflow.rule_versions import active_rules, rules_history

    with _session(url) as s:
        active = active_rules(s)
        typer.echo(
            f"active: {active.source} ({active.label}, v{active.version}, "
            f"{len(active.rules)} rules)"
        )
        for rule in active.rules:
            spec = rule.task
            what = (
                f"{spec.category} {spec.priority} {spec.sla} -> {spec.assign}"
                if spec
                else "suppress"
            )
            typer.echo(f"  {rule.id:<28} {what}")
        for v in rules_history(s):
            mark = "*" if v.active else " "
            typer.echo(
                f"{mark} v{v.version} {v.loaded_at.isoformat(timespec='seconds')} "
                f"by {v.loaded_by} {v.sha256[:12]}"
            )


def _window(since: str | None, until: str | None, days: int) -> tuple[datetime, datetime]:
    end = datetime.fromisoformat(until) if until else datetime.now(UTC)
    start = datetime.fromisoformat(since) if since else end - timedelta(days=days)
    return (
        start if start.tzinfo else start.replace(tzinfo=UTC),
        end if end.tzinfo else end.replace(tzinfo=UTC),
    )


@app.command()
def stats(
    by: Annotated[
        str, typer.Option(help="all, district, community, grid, category, worker, org")
    ] = "all",
    scope: Annotated[str | None, typer.Option(help="Unit code prefix.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="ISO date/time.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="ISO date/time.")] = None,
    days: int = 30,
    rank: Annotated[
        str | None, typer.Option(help="Rank by this rate (e.g. good_rating_rate).")
    ] = None,
    url: UrlOption = None,
) -> None:
    """Response, acceptance, resolution, on-time, satisfaction and good-rating rates (JSON)."""
    from workflow.measures import measures, ranking

    start, end = _window(since, until, days)
    with _session(url) as s:
        if rank:
            rows = ranking(s, by=by, start=start, end=end, order=rank, scope=scope)
            out: Any = [{"key": k, **f.as_dict()} for k, f in rows]
        else:
            figures = measures(s, start=start, end=end, group_by=by, scope=scope)
            out = {k: f.as_dict() for k, f in sorted(figures.items())}
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))


@app.command()
def ledger(
    org: str,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    since: Annotated[str | None, typer.Option("--from")] = None,
    until: Annotated[str | None, typer.Option("--to")] = None,
    days: int = 31,
    url: UrlOption = None,
) -> None:
    """服务台账: an organisation's tasks in a period, as CSV (UTF-8 with BOM for Excel)."""
    from workflow.reports import ledger_csv, service_ledger

    start, end = _window(since, until, days)
    with _session(url) as s:
        rows = service_ledger(s, org, start=start, end=end)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(ledger_csv(rows), encoding="utf-8-sig")
    typer.echo(f"{len(rows)} task(s) written to {out}")


@app.command()
def summary(
    scope: Annotated[str | None, typer.Option(help="Unit code prefix.")] = None,
    url: UrlOption = None,
) -> None:
    """Demand and resources per grid, as JSON a map can draw (joined by grid code)."""
    from workflow.reports import grid_summary

    with _session(url) as s:
        data = grid_summary(s, scope=scope, on=datetime.now(UTC).date())
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
def produce(url: UrlOption = None) -> None:
    """Derive events (and tasks) from what the sources said since the last run."""
    from gridhub.jobs.workflow import produce_events

    typer.echo(json.dumps(produce_events(url), ensure_ascii=False))


@app.command()
def relay(url: UrlOption = None) -> None:
    """Deliver due write-backs once."""
    from gridhub.jobs.workflow import relay_once

    typer.echo(json.dumps(relay_once(url)))


@app.command("sla")
def sla_command(url: UrlOption = None) -> None:
    """Hand queued tasks to on-duty workers, escalate breaches, auto-close old completions."""
    from gridhub.jobs.workflow import dispatch_queued, watch_slas

    typer.echo(json.dumps({**dispatch_queued(url), **watch_slas(url)}))
