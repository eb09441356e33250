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
    token_cache_seconds: float = 60.0
    """How long a verified token's principal is reused (never past the token's ``exp``)."""
    durable_read_logs: bool = False
    """PostgreSQL: wait for the WAL flush of a read's log entry before answering.

    Off by default: a read's only write is its log entry, and one fsync per read under the
    log's global lock caps the whole API at ~1/fsync (≈125 reads/s on an 8 ms disk). With it
    off (``synchronous_commit=off`` as the connection default), a database crash can lose the
    last few hundred milliseconds of *read* entries — never a change, never the chain's
    consistency, since what is lost is a suffix. Writes always commit durably.
    """
    max_photo_bytes: int = 8 * 1024 * 1024
    max_photos: int = 6
    photo_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
    attachments_dir: Path | None = None
    """Where feedback photos go; default ``<var_dir>/attachments`` (as ``gridhub tasks``)."""
    audit_archive_dir: Path | None = None
    """Also search archived exchange-log files in audit queries (slow: a sequential scan)."""
    subscription_poll_seconds: float = 0.5
    event_gap_grace_seconds: float = 2.0
    """How long a subscription waits for a lower event id still being committed."""


__all__ = [
    "DEFAULT_PAGE",
    "DEFAULT_TASK_PAGE",
    "MAX_PAGE",
    "MAX_QUERY_CHARS",
    "MAX_TASK_PAGE",
    "ApiConfig",
    "HubSettings",
]
