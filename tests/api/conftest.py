"""The REST app around a seeded store, with tokens for every role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api import Hub, create_app
from tests.api.district import Settings
from tests.api.fixtures import *  # noqa: F403  (the shared fixtures)


@pytest.fixture
def client(settings: Settings, hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(settings, hub=hub)) as test_client:
        yield test_client
