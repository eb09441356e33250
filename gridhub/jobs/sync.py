"""Sync jobs: build an adapter from settings and run the shared engine over it.

The DAGs (``dags/*_sync.py``) and ``gridhub sync <source>`` both call ``run_sync``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from pydantic import BaseModel, SecretStr

from adapters.contract import Adapter
from adapters.engine import ProgressCallback, sync_adapter
from gridhub.settings import PLACEHOLDER_SECRETS, get_settings
from gridhub.sources import SOURCES
from gridhub.wiring import sessions


def config_model(module: ModuleType) -> type[BaseModel]:
    """The adapter package's config model: the one exported class named ``…Config``."""
    found = [
        obj
        for name, obj in vars(module).items()
        if name.endswith("Config") and isinstance(obj, type) and issubclass(obj, BaseModel)
    ]
    if len(found) != 1:
        raise TypeError(f"{module.__name__} must export exactly one pydantic …Config class")
    return found[0]


def adapter_config(source: str, module: ModuleType) -> BaseModel:
    """Validate the source's settings section with the adapter's own model.

    Outside development a secret left at a placeholder value is refused here, as the
    top-level settings refuse theirs.
    """
    settings = get_settings()
    config = config_model(module).model_validate(getattr(settings, source))
    if settings.environment != "development":
        for name, value in config:
            if isinstance(value, SecretStr) and (
                value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
            ):
                raise ValueError(
                    f"placeholder secret GRIDHUB_{source.upper()}__{name.upper()} "
                    f"is not allowed in {settings.environment}"
                )
    return config


def build_adapter(source: str) -> Adapter:
    if source not in SOURCES:
        known = ", ".join(sorted(SOURCES)) or "none yet"
        raise KeyError(f"unknown source {source!r} (known: {known})")
    module = importlib.import_module(SOURCES[source])
    adapter: Adapter = module.create_adapter(adapter_config(source, module))
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
        max_record_bytes=get_settings().sync_max_record_bytes,
    )
    return [r.as_dict() for r in reports]


def check_source(source: str) -> tuple[bool, str | None]:
    adapter = build_adapter(source)
    try:
        return adapter.check_connection()
    finally:
        adapter.close()
