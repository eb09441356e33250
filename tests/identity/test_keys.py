"""The key ring: generation on first use, file modes, encryption at rest, rotation, JWKS."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from identity.errors import AuthError, KeyRingError
from identity.jwk import (
    ALGORITHMS,
    PRIVATE_MEMBERS,
    Algorithm,
    kid_for,
    public_key_from_jwk,
    thumbprint,
)
from identity.keys import DEFAULT_GRACE, KeyRing
from identity.tokens import MAX_TTL, issue_token, verify_token
from tests.identity.conftest import RingFactory
from tests.identity.helpers import AUDIENCE, GRID, ISSUER, header_of

ALGS = [pytest.param(a, id=a) for a in ALGORITHMS]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _token(ring: KeyRing) -> str:
    return issue_token(
        ring, subject="w1", role="grid_worker", grids=[GRID], issuer=ISSUER, audience=AUDIENCE
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("alg", ALGS)
def test_first_use_generates_a_key_with_private_file_0600(
    make_ring: RingFactory, alg: Algorithm
) -> None:
    ring = make_ring(alg, passphrase="correct horse")
    info = ring.active()

    private = ring.directory / f"{info.kid}.key.pem"
    assert info.alg == alg
    assert _mode(private) == 0o600
    assert _mode(ring.directory) == 0o700
    assert _mode(ring.directory / f"{info.kid}.pub.pem") == 0o644
    assert private.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_without_passphrase_key_is_plain_but_still_0600(ring: KeyRing) -> None:
    private = ring.directory / f"{ring.active().kid}.key.pem"
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert _mode(private) == 0o600
    assert not ring.encrypted


def test_private_file_is_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ring = KeyRing(tmp_path / "ring")
        kid = ring.active().kid
    finally:
        os.umask(old)
    assert _mode(tmp_path / "ring" / f"{kid}.key.pem") == 0o600


def test_wrong_passphrase_is_refused_without_echoing_it(tmp_path: Path) -> None:
    KeyRing(tmp_path, passphrase="right-one").active()
    with pytest.raises(KeyRingError) as caught:
        KeyRing(tmp_path, passphrase="wrong-one").signing_key()
    assert "wrong-one" not in str(caught.value)
    assert "right-one" not in str(caught.value)


@pytest.mark.parametrize(
    ("written_with", "read_with"),
    [
        pytest.param(None, "late-passphrase", id="plain-key-now-passphrase"),
        pytest.param("secret-pass", None, id="encrypted-key-no-passphrase"),
    ],
)
def test_passphrase_mismatch_is_refused(
    tmp_path: Path, written_with: str | None, read_with: str | None
) -> None:
    KeyRing(tmp_path, passphrase=written_with).active()
    with pytest.raises(KeyRingError, match="passphrase"):
        KeyRing(tmp_path, passphrase=read_with).signing_key()


def test_setting_a_passphrase_later_is_fixed_by_rotating(tmp_path: Path) -> None:
    KeyRing(tmp_path).active()
    ring = KeyRing(tmp_path, passphrase="now-encrypted")
    ring.rotate()
    assert ring.signing_key().kid == ring.active().kid
    encrypted = tmp_path / f"{ring.active().kid}.key.pem"
    assert encrypted.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_rfc7638_thumbprint_vector() -> None:
    """The example key of RFC 7638 §3.1 and its published thumbprint."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    alg, key = public_key_from_jwk(jwk)
    assert alg == "RS256"
    assert kid_for(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ALGS)
def test_jwks_is_public_only_and_round_trips(make_ring: RingFactory, alg: Algorithm) -> None:
    ring = make_ring(alg, passphrase="pw")
    ring.active()
    ring.rotate()  # one active and one retired key
    document = ring.jwks()

    assert len(document["keys"]) == 2
    assert document["keys"][0]["kid"] == ring.active().kid
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["use"] == "sig"
        assert jwk["alg"] == alg
        assert jwk["kid"] == thumbprint(jwk)
        parsed_alg, key = public_key_from_jwk(jwk)
        assert parsed_alg == alg
        assert kid_for(key) == jwk["kid"]
    serialised = json.dumps(document)
    assert "PRIVATE" not in serialised


def test_jwk_parser_drops_private_members() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.private_numbers()
    from identity.jwk import b64url, public_jwk

    jwk = {
        **public_jwk(private.public_key()),
        "d": b64url(numbers.private_value.to_bytes(32, "big")),
    }
    _, key = public_key_from_jwk(jwk)
    assert isinstance(key, ec.EllipticCurvePublicKey)


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, id="symmetric"),
        pytest.param({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, id="p384"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, id="short-coords"),
        pytest.param({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, id="tiny-rsa"),
        pytest.param({"kty": "OKP", "crv": "X25519", "x": "AA"}, id="x25519"),
        pytest.param({"kty": "RSA", "e": "AQAB"}, id="missing-n"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": "A=", "y": "A="}, id="padded"),
    ],
)
def test_jwk_parser_refuses_unsupported_keys(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        public_key_from_jwk(jwk)


def test_jwk_alg_must_match_key_type(make_ring: RingFactory) -> None:
    jwk = dict(make_ring("ES256").jwks()["keys"][0], alg="RS256")
    with pytest.raises(ValueError, match="alg"):
        public_key_from_jwk(jwk)


@pytest.mark.parametrize("alg", ALGS)
def test_rotation_keeps_old_tokens_and_signs_with_the_new_kid(
    make_ring: RingFactory, alg: Algorithm
) -> None:
    ring = make_ring(alg)
    old_kid = ring.active().kid
    old_token = _token(ring)

    new = ring.rotate()

    assert new.kid != old_kid
    assert ring.active().kid == new.kid
    new_token = _token(ring)
    assert header_of(new_token)["kid"] == new.kid
    assert header_of(old_token)["kid"] == old_kid
    for token in (old_token, new_token):
        assert verify_token(token, issuer=ISSUER, audience=AUDIENCE, ring=ring).subject == "w1"
    # The retired key can no longer sign: its private half is gone, its public half stays.
    assert not (ring.directory / f"{old_kid}.key.pem").exists()
    assert (ring.directory / f"{old_kid}.pub.pem").exists()


def test_retired_keys_are_forgotten_after_the_grace_period(tmp_path: Path) -> None:
    clock = Clock()
    ring = KeyRing(tmp_path, grace=timedelta(days=2), clock=clock)
    old_kid = ring.active().kid
    old_token = _token(ring)
    ring.rotate()

    clock.now += timedelta(days=1)
    assert ring.resolve(old_kid) is not None
    assert verify_token(old_token, issuer=ISSUER, audience=AUDIENCE, ring=ring)

    clock.now += timedelta(days=1, seconds=1)
    assert ring.resolve(old_kid) is None  # refused even before the files are pruned
    with pytest.raises(AuthError) as caught:
        verify_token(old_token, issuer=ISSUER, audience=AUDIENCE, ring=ring)
    assert caught.value.code == "unknown_kid"
    assert [k["kid"] for k in ring.jwks()["keys"]] == [ring.active().kid]

    assert ring.prune() == (old_kid,)
    assert not (tmp_path / f"{old_kid}.pub.pem").exists()
    assert [k.kid for k in ring.entries()] == [ring.active().kid]


def test_grace_period_outlasts_the_longest_token() -> None:
    assert DEFAULT_GRACE >= MAX_TTL


def test_rings_sharing_a_directory_see_each_others_rotation(tmp_path: Path) -> None:
    api_worker, cli = KeyRing(tmp_path), KeyRing(tmp_path)
    first = api_worker.signing_key().kid
    assert cli.active().kid == first

    rotated = cli.rotate()

    assert api_worker.signing_key().kid == rotated.kid
    assert api_worker.resolve(first) is not None


def test_concurrent_first_use_creates_exactly_one_key(tmp_path: Path) -> None:
    kids: list[str] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        ring = KeyRing(tmp_path / "shared")
        barrier.wait()
        kids.append(ring.active().kid)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(kids)) == 1
    assert len(list((tmp_path / "shared").glob("*.key.pem"))) == 1


def test_resolve_never_creates_a_ring(tmp_path: Path) -> None:
    assert KeyRing(tmp_path / "absent").resolve("x" * 43) is None
    assert not (tmp_path / "absent").exists()


def test_swapped_key_file_is_detected(make_ring: RingFactory) -> None:
    ring, other = make_ring("ES256"), make_ring("ES256")
    kid, other_kid = ring.active().kid, other.active().kid
    target = ring.directory / f"{kid}.pub.pem"
    target.write_bytes((other.directory / f"{other_kid}.pub.pem").read_bytes())
    with pytest.raises(KeyRingError, match="does not match"):
        KeyRing(ring.directory).resolve(kid)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m.update(active="../../etc/passwd"), id="path-traversal-kid"),
        pytest.param(lambda m: m["keys"][0].update(alg="HS256"), id="symmetric-alg"),
        pytest.param(lambda m: m.pop("active"), id="no-active"),
    ],
)
def test_corrupt_manifest_is_refused(ring: KeyRing, edit: object) -> None:
    ring.active()
    path = ring.directory / "ring.json"
    manifest = json.loads(path.read_text())
    edit(manifest)  # type: ignore[operator]
    path.unlink()
    path.write_text(json.dumps(manifest))
    with pytest.raises(KeyRingError):
        KeyRing(ring.directory).active()


def test_rotate_to_another_algorithm(make_ring: RingFactory) -> None:
    ring = make_ring("ES256")
    old = _token(ring)
    assert ring.rotate("EdDSA").alg == "EdDSA"
    assert header_of(_token(ring))["alg"] == "EdDSA"
    assert verify_token(old, issuer=ISSUER, audience=AUDIENCE, ring=ring)


def test_rotate_on_an_empty_ring_just_creates_the_first_key(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "new")
    first = ring.rotate()
    assert [k.kid for k in ring.entries()] == [first.kid]
    assert first.retired_at is None
