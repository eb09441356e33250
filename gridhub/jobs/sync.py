"""Sync jobs: build an adapter from settings and run the shared engine over it.

The DAGs (``dags/*_sync.py``) and ``gridhub sync <source>`` both call ``run_sync``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from adapters.contract import Adapter
from adapters.engine import ProgressCallback, sync_adapter
from gridhub.settings import get_settings
from gridhub.sources import SOURCES
from gridhub.wiring import sessions


def build_adapter(source: str) -> Adapter:
    if source not in SOURCES:
        known = ", ".join(sorted(SOURCES)) or "none yet"
        raise KeyError(f"unknown source {source!r} (known: {known})")
    module = importlib.import_module(SOURCES[source])
    config = getattr(get_settings(), source)
    adapter: Adapter = module.create_adapter(config)
    return adapter


def run_sync(
    source: str,
    streams: Iterable[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
    database_url: str | None = None,
) -> list[dict[str, Any]]:
    """Sync ``source`` (all streams or the named ones); returns one report per stream."""
    adapter = build_adapter(source)
    reports = sync_adapter(
        adapter,
        sessions(database_url),
        streams=list(streams) if streams else None,
        checkpoint_every=get_settings().sync_checkpoint_every,
        progress=progress,
    )
    return [r.as_dict() for r in reports]


def check_source(source: str) -> tuple[bool, str | None]:
    adapter = build_adapter(source)
    try:
        return adapter.check_connection()
    finally:
        adapter.close()
