"""Fixtures for the exchange-log tests: a file signer and its public keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.signing import FileSigner, KeySet


@pytest.fixture
def signer(tmp_path: Path) -> FileSigner:
    return FileSigner.open(tmp_path / "audit-keys", "test-passphrase")


@pytest.fixture
def keys(signer: FileSigner) -> KeySet:
    return KeySet.from_jwks(signer.jwks())
