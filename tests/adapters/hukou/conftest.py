"""A 户籍 simulator per test: a real SOAP service on loopback, fed by the synthetic district."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators.hukou import HukouSimulator

#: Registrations served by the default simulator: several pages, a few legacy IDs.
PERSONS = 450


@pytest.fixture
def sim() -> Iterator[HukouSimulator]:
    with HukouSimulator(PERSONS, seed=11) as simulator:
        yield simulator
