"""``gridhub resolve``: identity resolution on CSV extracts or over the canonical store.

On files the command is three steps with a seam between each: *load* records from CSV,
*resolve* them with the engine, *write* clusters and the review queue.  With ``--store``
the same engine runs over the canonical store instead (``gridhub.jobs.resolution``, the
function the Airflow DAG calls): new and changed records are placed incrementally, or
everything is re-resolved with ``--full``.  Heavy imports happen inside the command so
``gridhub --help`` stays fast.  Nothing printed here holds personal data: problems are
reported by file and line, results by counts.
"""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from resolution import Profile, Resolution

__all__ = ["command"]


def _load_profile(name: str) -> Profile:
    from resolution import ProfileError, load_profile

    try:
        return load_profile(Path(name) if name.endswith((".yaml", ".yml")) else name)
    except ProfileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _load_files(files: list[Path], profile: Profile) -> pd.DataFrame:
    from resolution.csv_input import print_problem, read_csv_records

    missing = [f for f in files if not f.is_file()]
    if missing:
        for f in missing:
            typer.echo(f"error: no such file: {f}", err=True)
        raise typer.Exit(2)
    result = read_csv_records(files, profile, report=print_problem)
    if result.problems:
        typer.echo(f"{len(result.problems)} row(s) skipped, see above", err=True)
    return result.records


def _write(resolution: Resolution, out: Path, review: Path | None) -> None:
    clusters = resolution.clusters()
    out.parent.mkdir(parents=True, exist_ok=True)
    clusters.to_csv(out, index=False, encoding="utf-8")
    if review is not None:
        review.parent.mkdir(parents=True, exist_ok=True)
        resolution.review().to_csv(review, index=False, encoding="utf-8")


def _store(full: bool, refit: bool, profile: str) -> None:
    import json

    from gridhub.jobs.resolution import resolve_store as job

    summary = job(full=full, refit=refit, profile=profile)
    typer.echo(json.dumps(summary, ensure_ascii=False, default=str))


def command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[FILE.csv...]",
            help="CSV extracts; with the febrl profile each file is one source.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write clusters.csv (files).")
    ] = None,
    profile: Annotated[
        str,
        typer.Option("--profile", help="cn_person, febrl, or a profile YAML file."),
    ] = "cn_person",
    review: Annotated[
        Path | None,
        typer.Option("--review", help="Also write the pairs that need a clerk's decision."),
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store", help="Resolve the canonical store instead of files."),
    ] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="With --store: re-resolve every record, not just new ones."),
    ] = False,
    refit: Annotated[
        bool,
        typer.Option("--refit", help="With --store: fit a new model (implies --full)."),
    ] = False,
) -> None:
    """Resolve CSV files into persons, or (``--store``) the canonical store's records.

    On files: writes one row per input record (source, source_key, person_id, flags);
    rows that cannot be read are reported on stderr by file and line and left out.
    With ``--store``: links every source record to one person and prints a summary.
    """
    from resolution import resolve

    if store:
        if files:
            typer.echo("error: --store takes no files", err=True)
            raise typer.Exit(2)
        _load_profile(profile)
        _store(full, refit, profile)
        return
    if full or refit:
        typer.echo("error: --full and --refit apply to --store only", err=True)
        raise typer.Exit(2)
    if not files or out is None:
        typer.echo("error: give FILE.csv... and --out, or --store", err=True)
        raise typer.Exit(2)
    prof = _load_profile(profile)
    records = _load_files(files, prof)
    if records.empty:
        typer.echo("error: no readable records", err=True)
        raise typer.Exit(1)
    resolution = resolve(records, prof)
    _write(resolution, out, review)
    s = resolution.stats
    for warning in s["warnings"]:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{s['records']} records -> {s['persons']} persons "
        f"({s['matches']} matched pairs, {s['review']} for review, "
        f"{s['insufficient']} with insufficient identifiers)",
        err=True,
    )
