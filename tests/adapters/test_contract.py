"""One contract test over every adapter: same files, same entry point, same behaviour when
the source cannot be reached (Airbyte CDK / Splink backends style)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

from adapters.contract import Adapter, Stream
from gridhub.sources import SOURCES

REPO = Path(__file__).resolve().parents[2]
REQUIRED_FILES = ("__init__.py", "config.py", "client.py", "streams.py", "mapping.py")
ADAPTERS = sorted(SOURCES.items())

# Config that points every adapter at a closed port / missing file: nothing listens there.
UNREACHABLE: dict[str, dict[str, object]] = {
    "hukou": {"wsdl_url": "http://127.0.0.1:9/hukou?wsdl", "timeout_s": 1, "max_retries": 0},
    "hotline": {"bootstrap_servers": "127.0.0.1:9", "connect_timeout_s": 1},
    "health": {"base_url": "http://127.0.0.1:9/fhir", "timeout_s": 1, "max_retries": 0},
    "utility": {"inbox": "/nonexistent/gridhub/inbox"},
    "civil_affairs": {
        "connection_string": "Driver=SQLite3;Database=/nonexistent/dir/none.db",
        "max_retries": 0,
    },
}


@pytest.mark.parametrize(("source", "package"), ADAPTERS, ids=[s for s, _ in ADAPTERS])
def test_adapter_has_the_shared_file_layout(source: str, package: str) -> None:
    folder = REPO / package.replace(".", "/")
    missing = [f for f in REQUIRED_FILES if not (folder / f).exists()]
    assert missing == []


@pytest.mark.parametrize(("source", "package"), ADAPTERS, ids=[s for s, _ in ADAPTERS])
def test_adapter_exposes_create_adapter_and_a_config_model(source: str, package: str) -> None:
    module = importlib.import_module(package)
    params = list(inspect.signature(module.create_adapter).parameters.values())
    assert len(params) == 1
    config_cls = next(
        obj
        for name, obj in vars(module).items()
        if name.endswith("Config") and isinstance(obj, type) and issubclass(obj, BaseModel)
    )
    adapter = module.create_adapter(config_cls())
    try:
        assert isinstance(adapter, Adapter)
        assert adapter.name == source
        streams = adapter.streams()
        assert streams
        for stream in streams:
            assert isinstance(stream, Stream)
            assert stream.name
            assert stream.primary_key
            assert adapter.stream(stream.name) is stream
    finally:
        adapter.close()


@pytest.mark.parametrize(("source", "package"), ADAPTERS, ids=[s for s, _ in ADAPTERS])
def test_check_connection_reports_unreachable_without_raising(source: str, package: str) -> None:
    module = importlib.import_module(package)
    config_cls = next(
        obj
        for name, obj in vars(module).items()
        if name.endswith("Config") and isinstance(obj, type) and issubclass(obj, BaseModel)
    )
    adapter = module.create_adapter(config_cls(**UNREACHABLE[source]))
    try:
        ok, error = adapter.check_connection()
    finally:
        adapter.close()
    assert ok is False
    assert isinstance(error, str)
    assert error
