"""The adapter contract every source system follows.

Modelled on singer-sdk streams and the Airbyte CDK: an adapter is a set of streams; a stream
knows its name, primary key and cursor field, extracts raw records from a cursor position and
maps each one to the canonical form. Transport lives once per adapter in ``client.py``. The
sync engine (``adapters.engine``) owns everything else — storage, versioning, quarantine,
cursor and exchange log — so no adapter can get those wrong on its own.

Every adapter sub-package has the same files (``client.py``, ``streams.py``, ``mapping.py``,
and ``writeback.py`` where the source accepts feedback) and exposes ``create_adapter``; the
shared contract test in ``tests/adapters/test_contract.py`` runs over all of them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True, slots=True)
class Extracted:
    """One record as the source delivered it, with the stream position just after it.

    ``raw`` is what arrived: parsed (a mapping) or, when it could not be parsed at all, the
    bytes themselves — those go to quarantine whole. ``cursor`` is where a resumed sync may
    start so that this record is not needed again.
    """

    raw: Mapping[str, Any] | bytes
    cursor: Mapping[str, Any]
    source_key: str | None = None


@dataclass(frozen=True, slots=True)
class Flush:
    """Yielded by a stream that has gone quiet (a Kafka poll came back empty): commit what
    is pending now, at ``cursor``, instead of waiting for the checkpoint to fill up."""

    cursor: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Mapped:
    """A record ready to store: its key, the payload as received, the canonical fields.

    ``encoded`` is set only by a mapping worker that also encoded the record (payload JSON,
    content hash, canonical JSON, exactly as the engine would write them), so the sync
    process does not encode it again; payload and canonical are then those JSON texts, read
    back only if something asks for them. ``canonical_text`` is set by a worker that encoded
    the canonical fields only, because the payload is the record as received, which the
    sync process encodes anyway for its exchange-log digest.
    """

    source_key: str
    payload: Mapping[str, Any]
    canonical: Mapping[str, Any]
    encoded: tuple[str, str, str] | None = None
    canonical_text: str | None = None


class RecordRejected(Exception):
    """A record that cannot be stored as it is; the engine quarantines it and goes on.

    ``reason_code`` is stable and machine-readable (``resident_id.check_digit``,
    ``schema.missing_field``); ``reason`` is for people and must not contain personal data.
    """

    def __init__(self, reason_code: str, reason: str, *, source_key: str | None = None) -> None:
        super().__init__(f"{reason_code}: {reason}")
        self.reason_code = reason_code
        self.reason = reason
        self.source_key = source_key


class SourceUnavailable(Exception):
    """The source could not be reached or answered with an error after retries.

    The sync stops; everything stored before stays stored with its cursor, and a re-run
    resumes from there.
    """


class Stream(abc.ABC):
    """One entity of a source: household registrations, 低保 recipients, work orders, …"""

    name: ClassVar[str]
    primary_key: ClassVar[tuple[str, ...]]
    cursor_field: ClassVar[str | None] = None
    #: Set by ``sync_adapter`` for one ``extract`` when another stream follows: a stream that
    #: knows when it has read its last record calls it then, before handing the last records
    #: on, and the next stream is told to ``prefetch``. Calling it is optional; it never raises.
    on_read_all: Callable[[], None] | None = None

    def prefetch(self, cursor: Mapping[str, Any]) -> None:  # noqa: B027
        """A hint that ``extract(cursor)`` comes next, while the stream before this one is
        still being stored: a stream with a mapping worker may start reading, so the worker
        has work across the boundary. ``extract`` with any other cursor ignores what was read.
        Default: nothing."""

    @abc.abstractmethod
    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted | Flush]:
        """Yield records after ``cursor`` ({} means from the beginning), oldest first.

        A long-lived stream may also yield ``Flush`` when it is idle.
        """

    @abc.abstractmethod
    def map(self, item: Extracted) -> Mapped:
        """Map one raw record to canonical form, or raise ``RecordRejected``."""

    def on_checkpoint(self, session: Session, mapped: Sequence[Mapped]) -> None:  # noqa: B027
        """Write rows that belong beside the source records (e.g. meter readings into their
        own narrow table), inside the checkpoint's transaction so they commit with the cursor.
        Default: nothing."""

    def final_cursor(self) -> Mapping[str, Any] | None:
        """A cursor to store once extraction has finished (e.g. the server's new watermark).

        Called only after ``extract`` is exhausted; None keeps the last record's cursor.
        """
        return None


class Adapter(abc.ABC):
    """A source system: its streams and a way to tell whether it can be reached."""

    name: ClassVar[str]

    @abc.abstractmethod
    def streams(self) -> Sequence[Stream]: ...

    @abc.abstractmethod
    def check_connection(self) -> tuple[bool, str | None]:
        """(True, None) when the source answers; (False, why) otherwise. Never raises."""

    def stream(self, name: str) -> Stream:
        for s in self.streams():
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.streams())
        raise KeyError(f"{self.name} has no stream {name!r} (streams: {known})")

    def close(self) -> None:  # noqa: B027  (optional hook; most adapters hold nothing)
        """Release connections; the engine calls it when a sync ends."""


@dataclass(slots=True)
class SyncReport:
    """What one run of one stream did, for the CLI, the DAG's XCom and the demo summary."""

    source: str
    stream: str
    batch_id: str
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    checkpoints: int = 0
    cursor: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def stored(self) -> int:
        return self.inserted + self.updated

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stream": self.stream,
            "batch_id": self.batch_id,
            "received": self.received,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "checkpoints": self.checkpoints,
            "cursor": self.cursor,
            "error": self.error,
        }
