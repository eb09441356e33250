"""``gridhub resolve``: identity resolution on CSV extracts, as district IT runs it.

The command is three steps with a seam between each: *load* records (today from CSV
files; a ``--store`` option will add a store adapter that yields the same table),
*resolve* them with the engine, *write* clusters and the review queue.  Heavy imports
happen inside the command so ``gridhub --help`` stays fast.  Nothing printed here holds
personal data: problems are reported by file and line, results by counts.
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


def command(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE.csv...",
            help="CSV extracts; with the febrl profile each file is one source.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write clusters.csv.")],
    profile: Annotated[
        str,
        typer.Option("--profile", help="cn_person, febrl, or a profile YAML file."),
    ] = "cn_person",
    review: Annotated[
        Path | None,
        typer.Option("--review", help="Also write the pairs that need a clerk's decision."),
    ] = None,
) -> None:
    """Resolve the records of one or more CSV files into persons.

    Writes one row per input record (source, source_key, person_id, flags).  Rows that
    cannot be read are reported on stderr by file and line and left out.
    """
    from resolution import resolve

    prof = _load_profile(profile)
    # Seam for ``--store``: a store adapter replaces _load_files with a query that yields
    # the same table (source, source_key, profile columns) and _write with writing
    # persons and the review queue back; resolve() in between stays as it is.
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
