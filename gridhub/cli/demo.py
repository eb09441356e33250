"""``gridhub demo``: the main job. For now: migrate the embedded store and summarise it."""

from __future__ import annotations

import typer


def command() -> None:
    """Run the demo on the embedded default (grows into the whole hub as issues land)."""
    from gridhub.jobs.store import table_counts, upgrade_store
    from gridhub.settings import get_settings

    result = upgrade_store()
    typer.echo(f"canonical store: {get_settings().effective_database_url}")
    typer.echo(f"schema revision {result['revision']}, {result['tables']} tables:")
    for name, count in table_counts().items():
        typer.echo(f"  {name:<24} {count:>10}")
