"""``gridhub simulate``: the synthetic district the source simulators and benchmarks use."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The synthetic district: one ground truth, a view per source system.",
    no_args_is_help=True,
)


@app.command()
def generate(
    persons: Annotated[
        int, typer.Option("--persons", "-n", min=1, help="People in the district.")
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Same seed and size, same bytes.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the CSV files.")] = Path(
        "var/district"
    ),
    encoding: Annotated[
        str, typer.Option("--encoding", help="File encoding, e.g. utf-8 or gb18030.")
    ] = "utf-8",
    district: Annotated[
        str, typer.Option("--district", help="Which real district to imitate: xihu or xuhui.")
    ] = "xihu",
    as_of: Annotated[
        str, typer.Option("--as-of", help="The day the truth describes (YYYY-MM-DD).")
    ] = "2025-01-01",
) -> None:
    """Generate the ground truth, records.csv and truth.csv for the resolution benchmark."""
    from simulators.district import DISTRICTS, District, write_district

    if district not in DISTRICTS:
        raise typer.BadParameter(
            f"choose one of {', '.join(sorted(DISTRICTS))}", param_hint="--district"
        )
    try:
        "".encode(encoding)
        day = date.fromisoformat(as_of)
    except (LookupError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    started = time.perf_counter()
    truth = District(persons, seed, spec=DISTRICTS[district], as_of=day)
    counts = write_district(truth, out, encoding=encoding)
    elapsed = time.perf_counter() - started
    for name, rows in counts.items():
        typer.echo(f"{name:<20} {rows:>10}")
    typer.echo(
        f"{persons} persons, seed {seed}, {DISTRICTS[district].district}: "
        f"{elapsed:.1f} s ({persons / elapsed:,.0f} persons/s) → {out}"
    )


@app.command()
def sources() -> None:
    """List the source views: stream, protocol, encoding and fields."""
    from simulators.district import PROFILES

    for p in PROFILES.values():
        typer.echo(
            f"{p.name:<14} {p.stream:<12} {p.protocol:<6} {p.encoding:<8} {', '.join(p.fields)}"
        )
