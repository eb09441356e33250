"""The long-lived objects REST and gRPC share: store, token verifier, key ring, policy.

Built once per process from the composition root's settings. Tests build one around their
own store and key ring; nothing here reads the environment.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt
import msgspec
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from api.config import ApiConfig, HubSettings
from api.held import held, release
from api.policy import Policy
from audit.buffered import BufferedAppender
from canonical_model.store import make_engine, session_factory
from identity import KeyRing, MaskingPolicy, Principal, RemoteJWKS, TokenVerifier
from identity.keys import KeySource
from identity.purposes import PurposeVocabulary
from workflow.attachments import PhotoStore


class Verifier(Protocol):
    def verify(self, token: str) -> Principal: ...


class CachingVerifier:
    """Remembers verified tokens (by their exact text) so a busy client does not pay a
    signature check (~0.2 ms for ES256) and a claims walk on every call.

    An entry lives until the earliest of the token's ``exp`` and ``ttl`` seconds, in a bounded
    LRU. Keys can be withdrawn before tokens expire, so a hit is re-checked against its key
    when the key's source answers without I/O (``local``: the hub's own key ring, a stat of
    its manifest, at most once per ``key_recheck`` seconds per key): a token whose ``kid``
    was pruned from the ring, or now names a different key, misses and goes through full
    verification, which refuses it. Tokens of a remote
    identity provider are not re-checked on the event loop (that could fetch its JWKS); their
    entries live at most ``ttl``, well inside the provider's own JWKS cache time. Failed
    verifications are never cached, so an attacker cannot poison the cache.
    """

    def __init__(
        self,
        inner: Verifier,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        local: Mapping[str, KeySource] | None = None,
        key_recheck: float = 1.0,
    ) -> None:
        self._inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._local = dict(local or {})
        self._key_recheck = key_recheck
        self._keys_seen: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def cached(self, token: str) -> Principal | None:
        """The principal of a recently verified, still valid token; never verifies itself."""
        if self._ttl <= 0:
            return None
        with self._lock:
            hit = self._entries.get(token)
            if hit is not None:
                self._entries.move_to_end(token)
        if hit is None:
            return None
        if hit.until > time.monotonic() and _unexpired(hit.principal) and self._key_holds(hit):
            return hit.principal
        with self._lock:
            self._entries.pop(token, None)
        return None

    def _key_holds(self, hit: _Entry) -> bool:
        source = self._local.get(hit.principal.issuer)
        if source is None:
            return True  # remote: bounded by ttl (see the class docstring)
        now = time.monotonic()
        slot = (hit.principal.issuer, hit.kid)
        seen = self._keys_seen.get(slot)
        if seen is None or now - seen[0] >= self._key_recheck:
            resolved = source.resolve(hit.kid)
            seen = (now, resolved.key if resolved is not None else None)
            self._keys_seen[slot] = seen
        key = seen[1]
        return key is not None and (key is hit.key or key == hit.key)

    def verify(self, token: str) -> Principal:
        found = self.cached(token)
        if found is not None:
            return found
        now = time.monotonic()
        principal = self._inner.verify(token)
        if self._ttl > 0:
            entry = self._entry(token, principal, now)
            if entry is not None:
                with self._lock:
                    self._entries[token] = entry
                    self._entries.move_to_end(token)
                    while len(self._entries) > self._max:
                        self._entries.popitem(last=False)
        return principal

    def _entry(self, token: str, principal: Principal, now: float) -> _Entry | None:
        """What a hit must re-check; None (do not cache) if the key cannot be pinned."""
        kid = jwt.get_unverified_header(token).get("kid")  # verified just now: well-formed
        source = self._local.get(principal.issuer)
        key = source.resolve(kid) if source is not None and isinstance(kid, str) else None
        if source is not None and key is None:
            return None
        return _Entry(now + self._ttl, principal, str(kid), key.key if key else None)

    def clear(self) -> None:
        """Forget every verified token (e.g. after withdrawing a key by hand)."""
        with self._lock:
            self._entries.clear()
            self._keys_seen.clear()


@dataclass(frozen=True, slots=True)
class _Entry:
    until: float
    principal: Principal
    kid: str
    key: object


def _unexpired(principal: Principal) -> bool:
    return principal.expires_at is None or principal.expires_at > datetime.now(UTC)


def _engine(url: str, config: ApiConfig) -> Engine:
    """SQLite as configured by the store; PostgreSQL pooled for the API's threads and, unless
    read logs must be durable, with asynchronous commit as the connection default (writes
    switch it back per transaction: ``api.policy.durable``). That saves a statement per read.
    """
    if make_url(url).drivername.startswith("sqlite"):
        return make_engine(url)
    options: dict[str, Any] = {
        "pool_size": config.db_pool_size,
        "max_overflow": config.db_pool_size,
        # No ping per checkout (a round trip per request): a connection the server dropped
        # fails one statement, SQLAlchemy then invalidates the whole pool, and the next
        # request reconnects. Connections are also recycled hourly.
        "pool_pre_ping": False,
        "pool_recycle": 3600,
        # msgspec parses the JSON aggregates of a person read several times faster than the
        # standard library, into the same plain values.
        "json_deserializer": msgspec.json.decode,
    }
    if not config.durable_read_logs:
        options["connect_args"] = {"options": "-c synchronous_commit=off"}
    return make_engine(url, **options)


def _read_log(config: ApiConfig, durable: sessionmaker[Session]) -> BufferedAppender | None:
    """The group-committing read log, unless each read must commit its own entry durably."""
    if config.durable_read_logs:
        return None
    return BufferedAppender(
        durable,
        max_delay=config.read_log_max_delay,
        max_batch=min(500, config.read_log_max_pending),
        max_pending=config.read_log_max_pending,
    )


def _durable_begin(session: Session, transaction: object, connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO ON")


@dataclass(slots=True)
class Hub:
    sessions: sessionmaker[Session]
    """Reads and API writes (writes make themselves durable through the policy)."""
    durable_sessions: sessionmaker[Session]
    """Every transaction durable: for code that commits without the policy (the ingest
    engine's checkpoints)."""
    verifier: CachingVerifier
    ring: KeyRing
    policy: Policy
    photos: PhotoStore
    config: ApiConfig
    archive_dir: Path | None = None

    @classmethod
    def from_settings(
        cls,
        settings: HubSettings,
        config: ApiConfig | None = None,
        *,
        sessions: sessionmaker[Session] | None = None,
        log_reads: bool = True,
    ) -> Hub:
        config = config or ApiConfig()
        engine = _engine(settings.effective_database_url, config) if sessions is None else None
        if engine is not None:
            sessions = session_factory(engine)
        assert sessions is not None
        bind = sessions.kw["bind"]
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            held(bind, active=config.db_active_reads)  # REST's plain reads (``api.held``)
        durable_sessions = sessionmaker(bind, expire_on_commit=False)
        event.listen(durable_sessions, "after_begin", _durable_begin)
        ring = KeyRing(
            settings.keys_dir,
            algorithm=settings.jwt_algorithm,  # type: ignore[arg-type]
            passphrase=settings.key_passphrase.get_secret_value(),
            grace=timedelta(days=settings.key_grace_days),
        )
        trusted: dict[str, KeySource] = {settings.jwt_issuer: ring}
        if settings.jwks_url and settings.idp_issuer:
            trusted[settings.idp_issuer] = RemoteJWKS(
                settings.jwks_url, ttl=float(settings.jwks_cache_ttl_seconds)
            )
        verifier = TokenVerifier(audience=settings.jwt_audience, trusted=trusted)
        masking = MaskingPolicy(PurposeVocabulary(settings.purpose_extras))
        reads = _read_log(config, durable_sessions) if log_reads else None
        return cls(
            sessions=sessions,
            durable_sessions=durable_sessions,
            verifier=CachingVerifier(
                verifier, ttl=config.token_cache_seconds, local={settings.jwt_issuer: ring}
            ),
            ring=ring,
            policy=Policy(masking, log_reads=log_reads, reads=reads),
            photos=PhotoStore(config.attachments_dir or settings.var_dir / "attachments"),
            config=config,
            archive_dir=config.audit_archive_dir,
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success (the read's log entry with it), else roll back."""
        with self.sessions() as session, session.begin():
            yield session

    def flush_reads(self) -> None:
        """Commit the read entries queued so far (tests, auditors' queries)."""
        self.policy.flush_reads()

    def close(self) -> None:
        """Server shutdown: commit every queued read entry (later reads are refused), and
        hand the held read connections back to the pool."""
        if self.policy.reads is not None:
            self.policy.reads.close()
        bind = self.sessions.kw.get("bind")
        if isinstance(bind, Engine):
            release(bind)

    def ready(self) -> bool:
        """Whether the store answers; never raises (used by /readyz and gRPC health)."""
        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False


__all__ = ["CachingVerifier", "Hub", "Verifier"]
