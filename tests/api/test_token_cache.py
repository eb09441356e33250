"""The verified-token cache: a hit never outlives the token's key, its ``exp`` or its bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.context import CachingVerifier
from identity import KeyRing, TokenVerifier, issue_token
from identity.errors import BadSignature, UnknownKid
from identity.keys import VerificationKey
from tests.api.district import AUDIENCE, G1, ISSUER


def _token(ring: KeyRing, subject: str = "W1", **kw: object) -> str:
    return issue_token(
        ring,
        subject=subject,
        role="grid_worker",
        issuer=ISSUER,
        audience=AUDIENCE,
        grids=[G1],
        purposes=["welfare_visit"],
        **kw,  # type: ignore[arg-type]
    )


def _verifier(ring: KeyRing, **kw: object) -> CachingVerifier:
    inner = TokenVerifier(audience=AUDIENCE, trusted={ISSUER: ring})
    return CachingVerifier(inner, local={ISSUER: ring}, **kw)  # type: ignore[arg-type]


def test_a_verified_token_is_served_from_the_cache(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    cache = _verifier(ring)
    token = _token(ring)
    assert cache.cached(token) is None  # never verified: never a hit
    principal = cache.verify(token)
    assert cache.cached(token) is principal
    assert cache.cached(token + "x") is None  # exact text only


def test_a_withdrawn_key_ends_its_cached_tokens(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys", grace=timedelta(0))
    cache = _verifier(ring, key_recheck=0)
    token = _token(ring)
    cache.verify(token)
    assert cache.cached(token) is not None
    ring.rotate()  # no grace: the old kid stops verifying at once
    assert cache.cached(token) is None
    with pytest.raises(UnknownKid):
        cache.verify(token)
    fresh = _token(ring)
    assert cache.verify(fresh).subject == "W1"


def test_a_rotation_within_grace_keeps_old_tokens_valid(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys", grace=timedelta(days=1))
    cache = _verifier(ring)
    token = _token(ring)
    principal = cache.verify(token)
    ring.rotate()
    assert cache.cached(token) is principal  # same as full verification would say
    assert ring.resolve(ring.entries()[0].kid) is not None


class _Swapped:
    """A key source whose kid now names another key (a re-keyed kid)."""

    def __init__(self, ring: KeyRing, other: KeyRing) -> None:
        self.ring, self.other, self.swapped = ring, other, False

    def resolve(self, kid: str) -> VerificationKey | None:
        key = self.ring.resolve(kid)
        if key is None or not self.swapped:
            return key
        return VerificationKey(kid, key.alg, self.other.signing_key().key.public_key())  # type: ignore[union-attr]


def test_a_kid_that_names_a_new_key_misses(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    source = _Swapped(ring, KeyRing(tmp_path / "other"))
    inner = TokenVerifier(audience=AUDIENCE, trusted={ISSUER: source})
    cache = CachingVerifier(inner, local={ISSUER: source}, key_recheck=0)
    token = _token(ring)
    cache.verify(token)
    assert cache.cached(token) is not None
    source.swapped = True
    assert cache.cached(token) is None
    with pytest.raises(BadSignature):
        cache.verify(token)


def test_never_past_exp_even_within_the_verifiers_leeway(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    inner = TokenVerifier(audience=AUDIENCE, trusted={ISSUER: ring}, leeway=timedelta(minutes=2))
    cache = CachingVerifier(inner, local={ISSUER: ring})
    issued = datetime.now(UTC) - timedelta(minutes=10)
    token = _token(ring, now=issued, not_before=issued, ttl=timedelta(minutes=9))
    assert cache.verify(token).subject == "W1"  # accepted within the leeway
    assert cache.cached(token) is None  # but expired: never served from the cache


def test_bounded_and_failures_are_not_cached(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    cache = _verifier(ring, max_entries=2)
    first, second, third = (_token(ring, subject=f"W{i}") for i in range(3))
    for token in (first, second, third):
        cache.verify(token)
    assert cache.cached(first) is None  # least recently used, evicted
    assert cache.cached(second) is not None
    assert cache.cached(third) is not None
    head, payload, signature = first.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(BadSignature):
        cache.verify(tampered)
    assert cache.cached(tampered) is None
    off = _verifier(ring, ttl=0)
    off.verify(first)
    assert off.cached(first) is None
