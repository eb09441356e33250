from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from identity.jwk import Algorithm
from identity.keys import KeyRing

RingFactory = Callable[..., KeyRing]


@pytest.fixture
def make_ring(tmp_path: Path) -> RingFactory:
    """Rings in fresh sub-directories of tmp_path; keyword arguments go to ``KeyRing``."""
    counter = iter(range(1000))

    def make(algorithm: Algorithm = "ES256", **kwargs: object) -> KeyRing:
        directory = kwargs.pop("directory", None) or tmp_path / f"ring{next(counter)}"
        return KeyRing(directory, algorithm=algorithm, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def ring(make_ring: RingFactory) -> KeyRing:
    return make_ring("ES256")
