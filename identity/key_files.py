"""The key ring's directory format: its manifest, key file names, and PEM files written safely
and read back checked against their kid.

:mod:`identity.keys` owns the lifecycle (which key is active, rotation, the grace period,
caching, locking); this module owns what lies on disk, so a reader of the format finds it in
one place and the ring's logic is not interleaved with serialisation.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from identity.errors import KeyRingError
from identity.jwk import (
    Algorithm,
    PrivateKey,
    PublicKey,
    algorithm_for,
    kid_for,
    parse_algorithm,
)

RSA_BITS = 3072
MANIFEST = "ring.json"
_KID = re.compile(r"[A-Za-z0-9_-]{16,128}")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    alg: Algorithm
    created_at: datetime
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    active: str
    keys: tuple[KeyInfo, ...]

    def get(self, kid: str) -> KeyInfo | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active": self.active,
                "keys": [
                    {
                        "kid": k.kid,
                        "alg": k.alg,
                        "created_at": k.created_at.isoformat(),
                        "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                    }
                    for k in self.keys
                ],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            raw: Any = json.loads(text)
            keys = tuple(
                KeyInfo(
                    kid=checked_kid(k["kid"]),
                    alg=parse_algorithm(k["alg"]),
                    created_at=datetime.fromisoformat(k["created_at"]),
                    retired_at=datetime.fromisoformat(k["retired_at"]) if k["retired_at"] else None,
                )
                for k in raw["keys"]
            )
            manifest = cls(active=raw["active"], keys=keys)
        except (KeyError, TypeError, ValueError):
            raise KeyRingError("key ring manifest is corrupt") from None
        if manifest.get(manifest.active) is None:
            raise KeyRingError("key ring manifest names no active key")
        return manifest


def checked_kid(value: object) -> str:
    # kids become file names: refuse anything that could step outside the ring directory.
    if not isinstance(value, str) or _KID.fullmatch(value) is None:
        raise ValueError("bad kid")
    return value


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte on; never widen or chmod afterwards."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def generate_private(alg: Algorithm) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def key_path(directory: Path, kid: str, part: str) -> Path:
    """``<kid>.key.pem`` or ``<kid>.pub.pem``; the kid is checked before it becomes a name."""
    return directory / f"{checked_kid(kid)}.{part}.pem"


def write_key_pair(
    directory: Path, private: PrivateKey, passphrase: bytes | None
) -> tuple[str, Path, Path]:
    """Write a new key's private (0600, encrypted with a passphrase) and public PEM files."""
    public = private.public_key()
    kid = kid_for(public)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file, pub_file = key_path(directory, kid, "key"), key_path(directory, kid, "pub")
    write_new(key_file, private_pem, 0o600)
    write_new(pub_file, public_pem, 0o644)
    return kid, key_file, pub_file


def read_public(directory: Path, info: KeyInfo) -> PublicKey:
    """A retired or active key's public PEM, checked against its kid and algorithm."""
    try:
        loaded = serialization.load_pem_public_key(
            key_path(directory, info.kid, "pub").read_bytes()
        )
    except FileNotFoundError:
        raise KeyRingError("a public key file of the ring is missing") from None
    except ValueError:
        raise KeyRingError("a public key file of the ring is corrupt") from None
    if not isinstance(
        loaded, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    ):
        raise KeyRingError("a public key file of the ring has an unsupported type")
    check_identity(loaded, info)
    return loaded


def read_private(directory: Path, info: KeyInfo, passphrase: bytes | None) -> PrivateKey:
    """The active key's private PEM, decrypted and checked against its kid and algorithm."""
    try:
        data = key_path(directory, info.kid, "key").read_bytes()
    except FileNotFoundError:
        raise KeyRingError("the active private key file is missing") from None
    try:
        loaded = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        # cryptography's TypeError here means encrypted-without / plain-with passphrase.
        raise KeyRingError(
            "the private key's encryption does not match the configured passphrase "
            "(a key written before a passphrase was set is replaced by rotating)"
        ) from None
    except ValueError:
        raise KeyRingError("the private key could not be decrypted or parsed") from None
    if not isinstance(
        loaded, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise KeyRingError("the private key has an unsupported type")
    check_identity(loaded.public_key(), info)
    return loaded


def check_identity(public: PublicKey, info: KeyInfo) -> None:
    # A swapped or edited key file must not silently sign or verify under another kid.
    try:
        ok = kid_for(public) == info.kid and algorithm_for(public) == info.alg
    except ValueError:
        ok = False
    if not ok:
        raise KeyRingError("a key file does not match its kid")


__all__ = [
    "MANIFEST",
    "RSA_BITS",
    "KeyInfo",
    "Manifest",
    "check_identity",
    "checked_kid",
    "generate_private",
    "key_path",
    "read_private",
    "read_public",
    "write_key_pair",
    "write_new",
]
