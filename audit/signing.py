"""Who signs checkpoints, and the public keys an auditor checks them with.

``audit`` does not import ``identity``: the key is handed in as a :class:`Signer` (anything
with ``kid``, ``algorithm`` and ``sign``), so the lead can plug the hub's JWT key ring in later.
:class:`FileSigner` is the embedded default for the CLI: one Ed25519 key under
``var/audit-keys/``. Unlike a token key ring it never forgets a public key — a checkpoint
signed years ago must still verify — and it deletes a private key when it rotates away from
it, so a retired key cannot sign again.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

ALGORITHMS: Final = frozenset({"EdDSA", "ES256", "RS256"})
"""Asymmetric only: with a shared secret anyone able to verify could also forge."""
_PUBLIC_MEMBERS: Final = {
    "OKP": ("kty", "crv", "x"),
    "EC": ("kty", "crv", "x", "y"),
    "RSA": ("kty", "n", "e"),
}


class Signer(Protocol):
    """Signs a JSON payload as a compact JWS whose header carries ``kid``."""

    @property
    def kid(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    def sign(self, payload: dict[str, Any]) -> str: ...


class SigningKeyError(Exception):
    """A key that cannot be used: unknown, symmetric, malformed."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    kid: str
    alg: str
    key: Any = field(repr=False)


class KeySet:
    """Public keys by ``kid``, from a JWKS document. Private members are ignored, never loaded."""

    def __init__(self, keys: Mapping[str, PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        keys: dict[str, PublicKey] = {}
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise SigningKeyError("a JWKS needs a 'keys' list")
        for jwk in entries:
            key = public_key_from_jwk(jwk)
            keys[key.kid] = key
        return cls(keys)

    def get(self, kid: str) -> PublicKey | None:
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)


def public_key_from_jwk(jwk: Any) -> PublicKey:
    if not isinstance(jwk, Mapping):
        raise SigningKeyError("a JWK must be an object")
    kty, kid, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("alg")
    if kty not in _PUBLIC_MEMBERS:
        raise SigningKeyError(f"key type {kty!r} refused (asymmetric keys only)")
    if not isinstance(kid, str) or not kid:
        raise SigningKeyError("every key needs a kid")
    public = {m: jwk[m] for m in _PUBLIC_MEMBERS[kty] if m in jwk}
    if alg is None:
        alg = {"OKP": "EdDSA", "EC": "ES256", "RSA": "RS256"}[kty]
    if alg not in ALGORITHMS:
        raise SigningKeyError(f"algorithm {alg!r} refused")
    try:
        loaded = jwt.PyJWK({**public, "alg": alg}, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, KeyError) as exc:
        raise SigningKeyError(f"key {kid}: {exc}") from None
    return PublicKey(kid=kid, alg=alg, key=loaded.key)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a kid that anyone can recompute from the public key."""
    members = {m: jwk[m] for m in _PUBLIC_MEMBERS[str(jwk["kty"])]}
    data = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return b64url(hashlib.sha256(data).digest())


def public_jwk(
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
) -> dict[str, str]:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        jwk = dict(OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True))
        alg = "EdDSA"
    else:
        jwk = dict(ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True))
        alg = "ES256"
    public = {m: str(jwk[m]) for m in _PUBLIC_MEMBERS[jwk["kty"]]}
    return {**public, "kid": thumbprint(public), "alg": alg, "use": "sig"}


class FileSigner:
    """The embedded default signer: ``<dir>/active`` names the kid, keys sit beside it.

    ``<kid>.key.pem`` is the PKCS#8 private key, created 0600 with ``os.open`` (never
    world-readable, not even for an instant) and encrypted when a passphrase is given;
    ``<kid>.jwk.json`` is the public JWK, kept forever.
    """

    def __init__(self, directory: Path, passphrase: str | None = None) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase.encode() if passphrase else None
        self._kid = ""
        self._alg = ""
        self._key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | None = None

    @classmethod
    def open(
        cls, directory: Path, passphrase: str | None = None, *, algorithm: str = "EdDSA"
    ) -> FileSigner:
        """Load the active key, creating the directory and a first key when there is none."""
        signer = cls(directory, passphrase)
        with signer._locked():
            if not (signer.directory / "active").exists():
                signer._generate(algorithm)
            signer._load()
        return signer

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def algorithm(self) -> str:
        return self._alg

    def sign(self, payload: dict[str, Any]) -> str:
        assert self._key is not None
        return jwt.encode(
            payload,
            self._key,
            algorithm=self._alg,
            headers={"kid": self._kid, "typ": "gridhub-audit-checkpoint+jws"},
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every public key this directory ever held, the active one first."""
        keys = read_jwks(self.directory)["keys"]
        keys.sort(key=lambda k: k["kid"] != self._kid)
        return {"keys": keys}

    def rotate(self, algorithm: str | None = None) -> str:
        """A new active key; the old private key is deleted, its public key kept."""
        with self._locked():
            old = self._kid
            self._generate(algorithm or self._alg)
            self._load()
            if old and old != self._kid:
                (self.directory / f"{old}.key.pem").unlink(missing_ok=True)
        return self._kid

    # -- files ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _generate(self, algorithm: str) -> None:
        key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
        if algorithm == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
        elif algorithm == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise SigningKeyError(f"the file signer makes EdDSA or ES256 keys, not {algorithm!r}")
        jwk = public_jwk(key)
        kid = jwk["kid"]
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        _write_new(self.directory / f"{kid}.key.pem", pem, 0o600)
        _write_new(self.directory / f"{kid}.jwk.json", json.dumps(jwk).encode(), 0o644)
        tmp = self.directory / ".active.tmp"
        tmp.unlink(missing_ok=True)
        _write_new(tmp, kid.encode(), 0o644)
        os.replace(tmp, self.directory / "active")

    def _load(self) -> None:
        kid = (self.directory / "active").read_text(encoding="ascii").strip()
        pem = (self.directory / f"{kid}.key.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=self._passphrase)
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise SigningKeyError("unsupported private key type")
        if public_jwk(key)["kid"] != kid:
            raise SigningKeyError("the private key does not match its kid")
        self._kid, self._key = kid, key
        self._alg = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"


def read_jwks(directory: Path) -> dict[str, list[dict[str, str]]]:
    """The public keys in a signer's folder, without loading (or creating) a private key.

    What a verifier on the hub's machine uses: it needs neither the passphrase nor write access.
    """
    return {
        "keys": [
            json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(Path(directory).glob("*.jwk.json"))
        ]
    }


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the checkpoint statement -------------------------------------------------------------

CHECKPOINT_TYP: Final = "gridhub-audit-checkpoint+jws"
CHECKPOINT_CLAIM: Final = "gridhub.audit.checkpoint/1"


@dataclass(frozen=True, slots=True)
class CheckpointClaims:
    """What the hub signed: "the log up to ``seq`` ends in ``entry_hash``", at ``at``."""

    seq: int
    entry_hash: str
    at: str
    kid: str


class CheckpointInvalid(Exception):
    """A checkpoint JWS that does not verify; the message says why (no key material)."""


def checkpoint_payload(seq: int, entry_hash: str, at: str) -> dict[str, Any]:
    # The "typ" claim stops any other JWS signed by the same key (e.g. an access token, if
    # the lead wires identity's key ring in) from passing as a checkpoint.
    return {"typ": CHECKPOINT_CLAIM, "seq": seq, "entry_hash": entry_hash, "at": at}


def open_checkpoint(jws: str, keys: KeySet) -> CheckpointClaims:
    """The signed claims of ``jws``, or :class:`CheckpointInvalid` naming what is wrong.

    The algorithm comes from the trusted key, never from the token header alone (RFC 8725).
    """
    try:
        header = jwt.get_unverified_header(jws)
    except jwt.PyJWTError:
        raise CheckpointInvalid("not a compact JWS") from None
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise CheckpointInvalid(f"unknown key id {kid!r}")
    kid = key.kid
    if header.get("alg") != key.alg:
        raise CheckpointInvalid("algorithm does not match the key")
    if header.get("typ") != CHECKPOINT_TYP:
        raise CheckpointInvalid("not a checkpoint (wrong typ)")
    try:
        decoded = jwt.api_jws.PyJWS().decode_complete(jws, key=key.key, algorithms=[key.alg])
    except jwt.InvalidSignatureError:
        raise CheckpointInvalid("signature invalid") from None
    except jwt.PyJWTError as exc:
        raise CheckpointInvalid(f"unreadable JWS: {type(exc).__name__}") from None
    try:
        claims = json.loads(decoded["payload"])
    except ValueError:
        raise CheckpointInvalid("payload is not JSON") from None
    seq, digest, at = claims.get("seq"), claims.get("entry_hash"), claims.get("at")
    if (
        claims.get("typ") != CHECKPOINT_CLAIM
        or isinstance(seq, bool)
        or not isinstance(seq, int)
        or not isinstance(digest, str)
        or not isinstance(at, str)
    ):
        raise CheckpointInvalid("payload is not a checkpoint statement")
    return CheckpointClaims(seq=seq, entry_hash=digest, at=at, kid=kid)
