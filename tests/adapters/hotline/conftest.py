"""One Tansu broker (persistent storage) for the hotline tests; fresh topics per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.hotline import HotlineConfig
from simulators.kafka_broker import KafkaBroker
from tests.adapters.hotline.helpers import fresh_config


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(tmp_path_factory.mktemp("hotline-broker")) as running:
        yield running


@pytest.fixture
def config(broker: KafkaBroker) -> HotlineConfig:
    if not broker.running:  # a test that stopped it failed before restarting it
        broker.start()
    return fresh_config(broker)
