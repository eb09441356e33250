"""``gridhub review …``: the clerk's queue (list, accept, reject) and manual merges
(merge, unmerge), one group so one registration in ``gridhub.cli.COMMANDS`` covers both.

Thin over ``gridhub.jobs.resolution``.  A decision needs ``--actor``: the merge
log and the review queue record who decided, and a default would put a false name there.
Listings show record references and scores, never names or ID numbers: a clerk opens the
records themselves through the API, where reads are scoped and logged.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="The identity-resolution review queue; merge and unmerge persons by hand.",
    no_args_is_help=True,
)

__all__ = ["app"]

Actor = Annotated[str, typer.Option("--actor", help="Who decides (kept in the history).")]
Note = Annotated[str | None, typer.Option("--note", help="Why (kept in the history).")]


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, default=str))


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


@app.command("list")
def list_command(
    status: Annotated[
        str, typer.Option("--status", help="open, accepted, rejected, withdrawn or all.")
    ] = "open",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
) -> None:
    """List review items, strongest first (one JSON object per line)."""
    from gridhub.jobs.resolution import list_queue

    if status not in ("open", "accepted", "rejected", "withdrawn", "all"):
        raise typer.BadParameter(
            "open, accepted, rejected, withdrawn or all", param_hint="--status"
        )
    for item in list_queue(status=None if status == "all" else status, limit=limit):
        _print(item)


@app.command("accept")
def accept_command(uid: str, actor: Actor, note: Note = None) -> None:
    """The pair is one person: merge their persons (kept merged by every later run)."""
    from gridhub.jobs.resolution import accept
    from resolution.review import ReviewError

    try:
        _print(accept(uid, actor=actor, note=note))
    except ReviewError as exc:
        _fail(exc)


@app.command("reject")
def reject_command(uid: str, actor: Actor, note: Note = None) -> None:
    """The pair is two people: never merged automatically again."""
    from gridhub.jobs.resolution import reject
    from resolution.review import ReviewError

    try:
        _print(reject(uid, actor=actor, note=note))
    except ReviewError as exc:
        _fail(exc)


@app.command("merge")
def merge_command(
    absorbed: Annotated[str, typer.Argument(help="Uid of the person to absorb.")],
    survivor: Annotated[str, typer.Argument(help="Uid of the person that remains.")],
    actor: Actor,
    note: Note = None,
) -> None:
    """Merge one person into another; undo with ``gridhub review unmerge ABSORBED``."""
    from gridhub.jobs.resolution import merge
    from resolution.merge import MergeError

    try:
        _print(merge(absorbed, survivor, actor=actor, reason=note))
    except MergeError as exc:
        _fail(exc)


@app.command("unmerge")
def unmerge_command(
    uid: Annotated[str, typer.Argument(help="Uid of the absorbed person to restore.")],
    actor: Actor,
    note: Note = None,
) -> None:
    """Restore a merged person under its own uid, with its records, events and tasks."""
    from gridhub.jobs.resolution import unmerge
    from resolution.merge import MergeError

    try:
        _print(unmerge(uid, actor=actor, reason=note))
    except MergeError as exc:
        _fail(exc)
