"""The file signer and the key set: private key hygiene, rotation, refusal of unsafe keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from audit.signing import (
    CheckpointInvalid,
    FileSigner,
    KeySet,
    SigningKeyError,
    checkpoint_payload,
    open_checkpoint,
    thumbprint,
)


def test_the_private_key_is_0600_encrypted_and_the_folder_0700(tmp_path: Path) -> None:
    signer = FileSigner.open(tmp_path / "k", "a passphrase")
    folder = tmp_path / "k"
    private = folder / f"{signer.kid}.key.pem"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in private.read_bytes()
    with pytest.raises((TypeError, ValueError)):
        FileSigner.open(folder, "the wrong passphrase")
    assert FileSigner.open(folder, "a passphrase").kid == signer.kid  # reused, not regenerated


def test_jwks_has_public_members_only_and_kid_is_the_thumbprint(tmp_path: Path) -> None:
    signer = FileSigner.open(tmp_path / "k")
    (jwk,) = signer.jwks()["keys"]
    assert "d" not in jwk
    assert jwk["kid"] == signer.kid == thumbprint(jwk)
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")


def test_rotation_keeps_old_public_keys_and_forgets_old_private_keys(tmp_path: Path) -> None:
    signer = FileSigner.open(tmp_path / "k", algorithm="EdDSA")
    old_jws = signer.sign(checkpoint_payload(1, "a" * 64, "2026-03-01T00:00:00.000000Z"))
    old = signer.kid
    new = signer.rotate("ES256")
    assert new != old
    assert signer.algorithm == "ES256"
    assert not (tmp_path / "k" / f"{old}.key.pem").exists()
    keys = KeySet.from_jwks(signer.jwks())
    assert set(keys.kids) == {old, new}
    assert open_checkpoint(old_jws, keys).seq == 1  # years-old checkpoints still verify
    new_jws = signer.sign(checkpoint_payload(2, "b" * 64, "2026-03-02T00:00:00.000000Z"))
    assert open_checkpoint(new_jws, keys).kid == new


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "oct", "k": "c2VjcmV0", "kid": "s"}, id="symmetric"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": "AA"}, id="no-kid"),
        pytest.param(
            {"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "k", "alg": "HS256"}, id="hmac-alg"
        ),
    ],
)
def test_unsafe_or_malformed_keys_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(SigningKeyError):
        KeySet.from_jwks({"keys": [jwk]})


def test_private_members_in_a_jwks_are_ignored(tmp_path: Path) -> None:
    signer = FileSigner.open(tmp_path / "k")
    (jwk,) = signer.jwks()["keys"]
    leaked = {**jwk, "d": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE"}
    key = KeySet.from_jwks({"keys": [leaked]}).get(signer.kid)
    assert key is not None
    assert isinstance(key.key, ed25519.Ed25519PublicKey)


def test_a_token_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    """Same key, different statement (e.g. an access token if identity's ring is plugged in)."""
    signer = FileSigner.open(tmp_path / "k")
    keys = KeySet.from_jwks(signer.jwks())
    token = signer.sign({"sub": "worker-1", "seq": 5, "entry_hash": "a" * 64, "at": "x"})
    with pytest.raises(CheckpointInvalid, match="not a checkpoint"):
        open_checkpoint(token, keys)
    private = ed25519.Ed25519PrivateKey.generate()
    wrong_typ = jwt.encode(
        checkpoint_payload(1, "a" * 64, "x"),
        private,
        algorithm="EdDSA",
        headers={"kid": signer.kid},
    )
    with pytest.raises(CheckpointInvalid):
        open_checkpoint(wrong_typ, keys)
    with pytest.raises(CheckpointInvalid, match="compact JWS"):
        open_checkpoint("not.a.jws!", keys)
    assert json.loads(json.dumps(signer.jwks()))  # the JWKS is plain JSON
