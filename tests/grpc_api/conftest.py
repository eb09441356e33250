"""A running gRPC server (loopback, free port) around the same seeded store as the REST tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import grpc
from api import Hub
from grpc_api import RunningServer, build_server
from tests.api.fixtures import *  # noqa: F403  (the shared fixtures)


@pytest.fixture
def server(hub: Hub) -> Iterator[RunningServer]:
    running = build_server(hub, "127.0.0.1:0", max_workers=8)
    yield running
    running.stop(0)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch
