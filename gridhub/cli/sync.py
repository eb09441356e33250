"""``gridhub sync <source>``: the same sync the DAGs run, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Sync source systems into the canonical store.", no_args_is_help=True)


def _run(source: str, streams: list[str] | None) -> None:
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
    from sqlalchemy.exc import DBAPIError

    from adapters.contract import SourceUnavailable, SyncReport
    from gridhub.jobs.sync import run_sync

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(report: SyncReport) -> None:
            key = f"{report.source}/{report.stream}"
            if key not in tasks:
                tasks[key] = bar.add_task(key, total=None, detail="")
            bar.update(
                tasks[key],
                completed=report.received,
                detail=f"{report.received} received · {report.stored} stored · "
                f"{report.unchanged} unchanged · {report.quarantined} quarantined",
            )

        try:
            reports = run_sync(source, streams, progress=progress)
        except SourceUnavailable as exc:
            typer.echo(f"{source}: source unavailable: {exc}", err=True)
            raise typer.Exit(2) from None
        except DBAPIError as exc:
            # The driver's message can quote row values (a unique-key DETAIL, say), so only
            # the error class and SQLSTATE reach the console; the checkpoint rolled back.
            typer.echo(f"{source}: store error: {store_error_summary(exc)}", err=True)
            raise typer.Exit(3) from None
    for r in reports:
        typer.echo(
            f"{r['source']}/{r['stream']}: received {r['received']}, inserted {r['inserted']}, "
            f"updated {r['updated']}, unchanged {r['unchanged']}, "
            f"quarantined {r['quarantined']}"
        )


def store_error_summary(exc: Exception) -> str:
    """``OperationalError (SQLSTATE 57P01); the batch rolled back, re-run to resume``:
    what an operator needs, with nothing of the rows that were being written."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    state = f" (SQLSTATE {code})" if code else ""
    return f"{kind}{state}; the open batch rolled back, re-run to resume from the cursor"


StreamOption = Annotated[
    list[str] | None, typer.Option("--stream", "-s", help="Only these streams (repeatable).")
]
CheckOption = Annotated[
    bool, typer.Option("--check", help="Only test the connection; exit 1 when unreachable.")
]


def _check(source: str) -> None:
    from gridhub.jobs.sync import check_source

    ok, error = check_source(source)
    typer.echo(f"{source}: {'ok' if ok else 'unreachable: ' + str(error)}")
    if not ok:
        raise typer.Exit(1)


def _command_for(source: str) -> None:
    def command(stream: StreamOption = None, check: CheckOption = False) -> None:
        if check:
            _check(source)
        else:
            _run(source, stream)

    command.__doc__ = f"Sync {source} into the canonical store (resumes from its cursor)."
    app.command(source)(command)


def _register_sources() -> None:
    from gridhub.sources import SOURCES

    for source in SOURCES:
        _command_for(source)


_register_sources()
