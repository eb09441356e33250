"""grpcio, imported by name at run time.

The repository's ``grpc/`` folder (the .proto contract) is deliberately not a package, but
static tools still see it as a namespace-package candidate: mypy resolves ``import grpc`` to
it and ruff sorts it as first-party. Importing through ``importlib`` keeps both honest;
at run time this is exactly ``import grpc`` (``tests/test_layout.py`` checks which one).
"""

from __future__ import annotations

import importlib
from typing import Any

grpc: Any = importlib.import_module("grpc")

__all__ = ["grpc"]
