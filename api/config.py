"""What the API and gRPC layers need to be told, and nothing they would look up themselves.

``api`` never reads the environment: the composition root (``gridhub``) hands over its
``Settings`` (anything shaped like :class:`HubSettings`) plus an :class:`ApiConfig` for the
knobs that only matter to the serving layers. Limits live here, in one place, so the OpenAPI
document, the validators and the gRPC checks cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class HubSettings(Protocol):
    """The subset of ``gridhub.settings.Settings`` the serving layers read."""

    @property
    def jwt_issuer(self) -> str: ...
    @property
    def jwt_audience(self) -> str: ...
    @property
    def jwt_algorithm(self) -> str: ...
    @property
    def jwks_url(self) -> str | None: ...
    @property
    def idp_issuer(self) -> str | None: ...
    @property
    def jwks_cache_ttl_seconds(self) -> int: ...
    @property
    def purpose_extras(self) -> list[str]: ...
    @property
    def key_passphrase(self) -> Secret: ...
    @property
    def key_grace_days(self) -> int: ...
    @property
    def var_dir(self) -> Path: ...
    @property
    def keys_dir(self) -> Path: ...
    @property
    def effective_database_url(self) -> str: ...


MAX_QUERY_CHARS = 64
"""Search strings longer than a name, an ID number or an address fragment are refused."""
MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_TASK_PAGE = 200
DEFAULT_TASK_PAGE = 50


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Serving knobs. Defaults suit a district deployment; tests and benchmarks override."""

    db_pool_size: int = 20
    """Connections per process; REST runs handlers in a thread pool of 40."""
    db_active_reads: int | None = 2
    """Plain reads (a person, a search, ``GetPerson``) running on PostgreSQL at once per
    process; more wait their turn. ``--workers N`` servers give the database N times this.

    PostgreSQL spends more CPU per statement the more backends run at once on few cores
    (``api.held``: on 2 cores 0.14 ms a person read with 2–4 running, 0.34 with 32). 2 with
    the default one process per CPU is 2 per core of a database on the same host; raise it
    with the database's cores. None: no bound."""
    token_cache_seconds: float = 60.0
    """How long a verified token's principal is reused (never past the token's ``exp``)."""
    durable_read_logs: bool = False
    """Commit each read's log entry durably, in the read's own transaction, before answering.

    Off by default: one fsync per read under the log's global lock caps the whole API at
    ~1/fsync (≈125 reads/s on an 8 ms disk). With it off, read entries are group-committed
    (``audit.buffered``): queued before the data is returned and committed durably in batches
    within ``read_log_max_delay``; a crash of the serving process can lose at most that long
    a tail of *read* entries (never a change, never the chain's consistency), a clean
    shutdown loses none. Writes always commit durably.
    """
    read_log_max_delay: float = 0.2
    """Seconds a queued read entry may wait for its batch: the most a process crash loses.

    0.2 s: under the few hundred ms that asynchronous commit could lose before, and long
    enough that a lightly used server flushes a few times a second, not after every read
    (at 0.05 s its wake-ups visibly slowed a single client on a loaded 2-core machine)."""
    read_log_max_pending: int = 20_000
    """Queued read entries beyond which reads wait, then are refused (503), not served."""
    max_photo_bytes: int = 8 * 1024 * 1024
    max_photos: int = 6
    photo_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
    attachments_dir: Path | None = None
    """Where feedback photos go; default ``<var_dir>/attachments`` (as ``gridhub tasks``)."""
    audit_archive_dir: Path | None = None
    """Also search archived exchange-log files in audit queries (slow: a sequential scan)."""
    subscription_poll_seconds: float = 0.5
    grpc_streams: int = 16
    """Open gRPC streams (event subscriptions, record pushes) one server process serves at once.

    Each holds a handler thread for its whole life, so the server gets this many threads on
    top of ``--threads`` and refuses one stream more (RESOURCE_EXHAUSTED) instead of letting
    subscribers take the threads that unary calls need: unbounded, as many subscribers as
    handler threads left every ``GetPerson`` of that process waiting behind them."""
    event_gap_grace_seconds: float = 2.0
    """How long a subscription waits for a lower event id still being committed."""

    def __post_init__(self) -> None:
        if self.db_active_reads is not None and self.db_active_reads < 1:
            # 0 would make every plain read wait forever, a hang rather than an error
            raise ValueError("db_active_reads must be at least 1 (None: no bound)")


__all__ = [
    "DEFAULT_PAGE",
    "DEFAULT_TASK_PAGE",
    "MAX_PAGE",
    "MAX_QUERY_CHARS",
    "MAX_TASK_PAGE",
    "ApiConfig",
    "HubSettings",
]
