"""The hub's own signing keys: a key ring directory with one active key and retired public keys.

Layout of the ring directory (created 0700)::

    ring.json          which key is active, and when each was created / retired (no secrets)
    <kid>.key.pem      PKCS#8 private key, created 0600, encrypted when a passphrase is given;
                       only the *active* key keeps one: retiring a key deletes it
    <kid>.pub.pem      SubjectPublicKeyInfo public key, kept through the grace period

Keys are generated on first use, so a fresh checkout needs no set-up step. Rotation keeps the
retired public keys for ``grace`` (at least the longest token lifetime), so tokens signed just
before a rotation stay valid until they expire; after that the key is forgotten and pruned.
Several processes (API workers, the CLI) may share a ring: mutations take an ``flock`` and the
manifest is replaced atomically, and readers notice a rotation by the manifest's inode.
The files themselves (manifest format, PEM writing and checked reading) are
:mod:`identity.key_files`; this module is the lifecycle.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from identity.jwk import Algorithm, PrivateKey, PublicKey, parse_algorithm, public_jwk
from identity.key_files import (
    MANIFEST,
    RSA_BITS,
    KeyInfo,
    Manifest,
    generate_private,
    key_path,
    read_private,
    read_public,
    write_key_pair,
    write_new,
)

DEFAULT_GRACE = timedelta(days=30)
"""Must stay >= ``identity.tokens.MAX_TTL``, or a rotation would cut live tokens short."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    alg: Algorithm
    key: PublicKey = field(repr=False)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: Algorithm
    key: PrivateKey = field(repr=False)


class KeySource(Protocol):
    """Anything that can turn a token's ``kid`` into a public key: the ring, a remote JWKS."""

    def resolve(self, kid: str) -> VerificationKey | None: ...


class KeyRing:
    """A directory of signing keys; see the module docstring for the layout and lifecycle."""

    def __init__(
        self,
        directory: Path | str,
        *,
        algorithm: Algorithm = "ES256",
        passphrase: str | bytes | None = None,
        grace: timedelta = DEFAULT_GRACE,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._dir = Path(directory)
        self._algorithm = parse_algorithm(algorithm)
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        self._passphrase: bytes | None = passphrase or None
        if grace < timedelta(0):
            raise ValueError("grace must not be negative")
        self._grace = grace
        self._clock = clock
        self._lock = threading.RLock()
        self._manifest: Manifest | None = None
        self._stamp: tuple[int, int] | None = None
        self._public: dict[str, PublicKey] = {}
        self._signing: SigningKey | None = None

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def encrypted(self) -> bool:
        return self._passphrase is not None

    # --- reading ------------------------------------------------------------------------

    def entries(self) -> tuple[KeyInfo, ...]:
        """Every key still in the ring (active and retired), oldest first."""
        return self._current().keys

    def active(self) -> KeyInfo:
        manifest = self._current()
        info = manifest.get(manifest.active)
        assert info is not None  # from_json and every writer guarantee it
        return info

    def signing_key(self) -> SigningKey:
        with self._lock:
            info = self.active()
            if self._signing is None or self._signing.kid != info.kid:
                self._signing = SigningKey(info.kid, info.alg, self._load_private(info))
            return self._signing

    def resolve(self, kid: str) -> VerificationKey | None:
        """The public key for ``kid`` if it is active or retired within the grace period.

        Never creates a ring: a verifier pointed at an empty directory knows no keys.
        """
        with self._lock:
            manifest = self._read()
            info = manifest.get(kid) if manifest else None
            if info is None or not self._usable(info):
                return None
            return VerificationKey(info.kid, info.alg, self._public_key(info))

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: public members only, active key first."""
        with self._lock:
            manifest = self._current()
            ordered = sorted(manifest.keys, key=lambda k: k.kid != manifest.active)
            return {
                "keys": [
                    {
                        **public_jwk(self._public_key(info)),
                        "kid": info.kid,
                        "alg": info.alg,
                        "use": "sig",
                    }
                    for info in ordered
                    if self._usable(info)
                ]
            }

    # --- mutating -----------------------------------------------------------------------

    def rotate(self, algorithm: Algorithm | None = None) -> KeyInfo:
        """Make a new active key; retire the old one (public part kept, private part deleted)."""
        alg = parse_algorithm(algorithm) if algorithm else self._algorithm
        with self._lock, self._file_lock():
            manifest = self._read()
            new = self._generate(alg)
            if manifest is None:
                self._write_manifest(Manifest(active=new.kid, keys=(new,)))
                return new
            now = self._clock()
            keys = tuple(
                replace(k, retired_at=now) if k.kid == manifest.active else k for k in manifest.keys
            )
            self._write_manifest(Manifest(active=new.kid, keys=(*keys, new)))
            self._prune_locked()
            return new

    def prune(self) -> tuple[str, ...]:
        """Forget keys retired longer than the grace period; return their kids."""
        with self._lock, self._file_lock():
            return self._prune_locked()

    # --- internals ----------------------------------------------------------------------

    def _usable(self, info: KeyInfo) -> bool:
        return info.retired_at is None or self._clock() < info.retired_at + self._grace

    def _path(self, kid: str, part: str) -> Path:
        return key_path(self._dir, kid, part)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _read(self) -> Manifest | None:
        """The manifest, re-read only when another writer has replaced the file."""
        path = self._dir / MANIFEST
        try:
            st = path.stat()
        except FileNotFoundError:
            self._manifest, self._stamp = None, None
            return None
        stamp = (st.st_ino, st.st_mtime_ns)
        if self._manifest is None or stamp != self._stamp:
            self._manifest = Manifest.from_json(path.read_text(encoding="utf-8"))
            self._stamp = stamp
        return self._manifest

    def _current(self) -> Manifest:
        """The manifest, generating the first key on first use."""
        with self._lock:
            manifest = self._read()
            if manifest is not None:
                return manifest
            with self._file_lock():
                manifest = self._read()  # another process may have won the race
                if manifest is None:
                    first = self._generate(self._algorithm)
                    manifest = Manifest(active=first.kid, keys=(first,))
                    self._write_manifest(manifest)
            return manifest

    def _write_manifest(self, manifest: Manifest) -> None:
        tmp = self._dir / f".{MANIFEST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        write_new(tmp, manifest.to_json().encode("utf-8"), 0o644)
        os.replace(tmp, self._dir / MANIFEST)
        self._manifest, self._stamp = None, None
        self._read()

    def _generate(self, alg: Algorithm) -> KeyInfo:
        kid, _, _ = write_key_pair(self._dir, generate_private(alg), self._passphrase)
        return KeyInfo(kid=kid, alg=alg, created_at=self._clock())

    def _prune_locked(self) -> tuple[str, ...]:
        manifest = self._read()
        if manifest is None:
            return ()
        gone = tuple(k.kid for k in manifest.keys if not self._usable(k))
        for info in manifest.keys:
            if info.retired_at is not None:
                self._path(info.kid, "key").unlink(missing_ok=True)
        if gone:
            kept = tuple(k for k in manifest.keys if k.kid not in gone)
            self._write_manifest(Manifest(active=manifest.active, keys=kept))
            for kid in gone:
                self._path(kid, "pub").unlink(missing_ok=True)
                self._public.pop(kid, None)
        return gone

    def _public_key(self, info: KeyInfo) -> PublicKey:
        cached = self._public.get(info.kid)
        if cached is not None:
            return cached
        loaded = read_public(self._dir, info)
        self._public[info.kid] = loaded
        return loaded

    def _load_private(self, info: KeyInfo) -> PrivateKey:
        return read_private(self._dir, info, self._passphrase)


__all__ = [
    "DEFAULT_GRACE",
    "RSA_BITS",
    "KeyInfo",
    "KeyRing",
    "KeySource",
    "SigningKey",
    "VerificationKey",
]
