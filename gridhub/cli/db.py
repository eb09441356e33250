"""``gridhub db``: schema migrations and a health check of the canonical store."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="The canonical store: migrations and checks.", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Database URL (default: GRIDHUB_DATABASE_URL).")
]


@app.command()
def upgrade(url: UrlOption = None) -> None:
    """Apply every migration up to the newest schema."""
    from gridhub.jobs.store import upgrade_store

    result = upgrade_store(url)
    typer.echo(f"schema at revision {result['revision']} ({result['tables']} tables)")


@app.command()
def check(url: UrlOption = None) -> None:
    """Exit 1 unless the store is at the newest revision and matches the models."""
    from canonical_model.store import check as do_check
    from gridhub.wiring import engine

    status = do_check(engine(url))
    typer.echo(f"revision: {status.current or 'none'} (head {status.head})")
    for diff in status.drift:
        typer.echo(f"drift: {diff}", err=True)
    if not status.ok:
        typer.echo("schema is not current: run `gridhub db upgrade`", err=True)
        raise typer.Exit(1)
    typer.echo("schema ok")


@app.command()
def summary(url: UrlOption = None) -> None:
    """Row counts per table of the canonical model (counts only, no personal data)."""
    from gridhub.jobs.store import table_counts

    for name, count in table_counts(url).items():
        typer.echo(f"{name:<24} {count:>10}")
