"""``gridhub consume <source>``: long-lived consumers for sources that push (Kafka).

The same engine as ``gridhub sync``, run in follow mode: records commit in checkpoints with
their Kafka offsets, a quiet stream commits what it holds on every empty poll, and SIGINT or
SIGTERM stops it cleanly — the current poll's records are committed, then the command exits.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from adapters.contract import SyncReport
    from adapters.hotline import HotlineConfig

app = typer.Typer(help="Consume push sources until stopped (SIGINT/SIGTERM).", no_args_is_help=True)

CheckpointOption = Annotated[
    int | None,
    typer.Option("--checkpoint-every", help="Records per transaction (default: settings)."),
]


def _hotline_config() -> HotlineConfig:
    import adapters.hotline
    from gridhub.jobs.sync import adapter_config

    config = adapter_config("hotline", adapters.hotline)
    assert isinstance(config, adapters.hotline.HotlineConfig)
    return config


@app.command()
def hotline(checkpoint_every: CheckpointOption = None) -> None:
    """Consume 12345 work orders into the canonical store until SIGINT or SIGTERM."""
    import signal
    import threading

    from adapters.contract import SourceUnavailable
    from adapters.engine import sync_stream
    from adapters.hotline import HotlineAdapter
    from gridhub.settings import get_settings
    from gridhub.wiring import sessions

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    config = _hotline_config()
    adapter = HotlineAdapter(config, follow=True, should_stop=stop.is_set)
    last_line = 0.0

    def progress(report: SyncReport) -> None:
        nonlocal last_line
        if time.monotonic() - last_line >= 10:  # counts only: orders carry personal data
            last_line = time.monotonic()
            typer.echo(_summary(report), err=True)

    typer.echo(f"consuming {config.topic} from {config.bootstrap_servers}; Ctrl-C stops", err=True)
    try:
        report = sync_stream(
            adapter,
            "work_orders",
            sessions(),
            checkpoint_every=checkpoint_every or get_settings().sync_checkpoint_every,
            progress=progress,
            max_record_bytes=get_settings().sync_max_record_bytes,
        )
    except SourceUnavailable as exc:
        typer.echo(f"hotline: source unavailable: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        adapter.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo(f"stopped; {_summary(report)}")


def _summary(report: SyncReport) -> str:
    return (
        f"{report.source}/{report.stream}: received {report.received}, inserted "
        f"{report.inserted}, updated {report.updated}, unchanged {report.unchanged}, "
        f"quarantined {report.quarantined}, offsets {report.cursor}"
    )
