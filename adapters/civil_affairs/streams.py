"""The 民政 streams: one per table, each read by keyset on ``(updated_at, id)``.

Why this shape:

* **Keyset, not offsets.** A page asks for the rows after the last one handed on —
  ``updated_at >= t AND (updated_at > t OR id > i)`` — ordered by ``(updated_at, id)``
  and bounded by ``page_size``; the ``id`` tie-break keeps a group of rows stamped in the
  same second (a nightly batch stamps thousands) from being cut in two. Offsets would skip
  rows as soon as one changed during the sync.
* **Every record carries the cursor just after itself**, so the engine can commit the
  cursor of the last stored record, even in the middle of a page.
* **A fixed upper bound.** ``MAX(updated_at)`` is read when a stream starts; rows updated
  during the sync move past it and wait for the next run instead of being chased forever.
* **A lookback.** A sync starts ``lookback_s`` before its stored cursor and always at the
  start of the cursor's own second. A row committed late with an older stamp, or stamped
  in the cursor's second after the cursor passed it, is still read; rows read twice cost a
  content hash and count as unchanged.
* **Rows never stamped.** A legacy row with ``updated_at`` NULL would be invisible to the
  keyset, so such rows are read first, by ``id`` (``null_id`` in the cursor).
* **updated_at is not payload.** A save that changes nothing is not a new version.
* **Mapped ahead, in pieces.** Mapping (names, pinyin, addresses) costs more CPU than
  storing; a worker process (``adapters.parallel.PageMapper``, ``map_workers``) maps the
  next piece of a page (``MAP_CHUNK`` records) while the engine stores this one, and ``map``
  hands over the worker's result for exactly the record just yielded. Pieces, because a
  table often fits in one page: handed over whole, the engine would wait for all of it to
  be mapped and the two processes would take turns — and a piece goes to the worker as
  soon as its rows are read, not after the whole page. The worker also decodes each row
  (``decode_row``) and encodes the record for the store (payload and canonical JSON, content
  hash), which the sync process would otherwise do: that process then only reads rows and
  stores records, and every other step of a record moves with its piece to whichever
  process has time for it (a piece the worker has not started is taken back). Records
  still reach the engine one by one, in keyset order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

from adapters.civil_affairs.client import (
    Dialect,
    OdbcClient,
    Page,
    UndecodableText,
    decode_text,
)
from adapters.civil_affairs.mapping import MAPPERS
from adapters.contract import Extracted, Mapped, SourceUnavailable, Stream
from adapters.parallel import Ahead, PageMapper, Undecoded, mapped

__all__ = ["STREAM_CLASSES", "TYPED_COLUMNS", "CivilAffairsStream"]

_PERSON = ("case_no", "name", "id_number", "gender", "birth_date", "phone", "address")


#: Columns that are not text in the source (dates, numbers). They are read as text
#: (``CAST … AS VARCHAR``): the SQLite driver turns a date it cannot parse into NULL
#: silently, and the payload must keep what the source said, not what a driver made of it.
TYPED_COLUMNS = frozenset(
    {
        "birth_date",
        "member_count",
        "monthly_amount",
        "approval_date",
        "start_date",
        "disability_grade",
        "issue_date",
        "death_date",
        "registered_on",
    }
)


def _json_value(value: Any) -> Any:
    """A value as JSON holds it, the same on every read (the content hash depends on it)."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, (bytes, bytearray)):
        return {"hex": bytes(value).hex()}
    return str(value)


def _as_datetime(value: Any, table: str, where: str) -> datetime:
    """The keyset's timestamp; a value the driver could not read stops the sync, loudly:
    paging past it could skip rows, and guessing it could reorder them."""
    if isinstance(value, datetime):
        return value
    try:
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("ascii")
        return datetime.fromisoformat(str(value).strip())
    except (TypeError, ValueError, UnicodeDecodeError):
        raise SourceUnavailable(
            f"civil_affairs: {table}.updated_at of {where} is not a timestamp; fix it at the source"
        ) from None


def decode_row(
    names: tuple[str, ...], encoding: str, row: tuple[Any, ...], cursor: Mapping[str, Any]
) -> Extracted:
    """A row (its last column ``updated_at``) as the record: a JSON object, narrow text
    decoded here, so one bad value spoils only its own row — it is kept as hex with the
    reason, and the mapper quarantines it. Module-level: it travels to the mapping worker,
    which decodes the rows of the pieces it maps (``parallel.Ahead``)."""
    raw: dict[str, Any] = {}
    for column, value in zip(names, row[:-1], strict=True):
        kind = type(value)
        if kind is bytes:
            if value.isascii():  # IDs, dates, amounts: no decoder, no checks
                raw[column] = value.decode("ascii")
                continue
            try:
                raw[column] = decode_text(value, encoding)
            except UndecodableText as exc:
                raw[column] = {"hex": value.hex(), "issue": exc.issue, "detail": exc.detail}
        elif kind is str or kind is int or value is None:
            raw[column] = value
        else:
            raw[column] = _json_value(value)
    key = raw.get("case_no")
    source_key = key.strip() or None if isinstance(key, str) else None
    # ``_pages`` builds a new position for every row: it is never changed once handed on.
    return Extracted(raw=raw, cursor=cursor, source_key=source_key)


#: Records per piece of a page handed to a mapping worker (a stream's ``map_chunk``).
MAP_CHUNK = 250


def _page_sizes(first: int, most: int) -> Iterator[int]:
    """Page sizes of one keyset walk: small first, four times larger each page up to
    ``most``. A page is fetched whole before its first row is handed on, so a first page of
    ``page_size`` rows would keep the mapping worker idle while it is read (~40 ms for 5,000
    rows, at the start of every stream); a small one gives it its first piece at once."""
    size = max(1, min(first, most))
    while True:
        yield size
        size = min(size * 4, most)


class CivilAffairsStream(Stream):
    """One table of the civil-affairs database; subclasses name the table and its columns."""

    primary_key: ClassVar[tuple[str, ...]] = ("case_no",)
    cursor_field: ClassVar[str | None] = "updated_at"
    table: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]

    def __init__(self, client: OdbcClient, mapper: PageMapper) -> None:
        self.client = client
        self.mapper = mapper
        self._ahead: Ahead | None = None
        self._prefetched: tuple[dict[str, Any], Ahead, Iterator[list[Undecoded]]] | None = None
        self._mapper = MAPPERS[self.name]
        selected = [
            f"CAST({c} AS VARCHAR(40)) AS {c}" if c in TYPED_COLUMNS else c for c in self.columns
        ]
        self._select = ", ".join(("id", *selected, "updated_at"))
        # Our own names, not the driver's description: some drivers upper-case them.
        self._names = ("id", *self.columns)
        self.pages = 0
        self.map_chunk = MAP_CHUNK

    # -- extraction ------------------------------------------------------------------
    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted]:
        """Records after ``cursor``; pieces of pages are mapped (and encoded for the store)
        in workers while the piece before them is stored (``parallel.Ahead``), so the worker
        stays busy while this process reads on."""
        ahead, pages = self._started(cursor)
        self._ahead = ahead
        try:
            for items in pages:
                yield from ahead.put(items)
            if self.on_read_all is not None:
                self.on_read_all()  # the next table starts reading while this one is stored
        except SourceUnavailable:
            # Pages read before the failure are complete: let the engine store them.
            yield from ahead.drain()
            raise
        yield from ahead.drain()

    def prefetch(self, cursor: Mapping[str, Any]) -> None:
        """Read this table's first page and send its pieces to the worker now, while the
        table before is stored: at each table boundary the worker otherwise idled ~30–45 ms
        (the last pieces stored, the checkpoint committed, this table's first page read)."""
        self.drop_prefetch()
        ahead, pages = self._new_ahead(), self._pages(cursor)
        try:
            for _ in range(2):  # the first page is two pieces (``_page_sizes``)
                items = next((p for p in pages if p), None)  # skips an empty unstamped page
                if items is None:
                    break
                ahead.queue(items)
        except BaseException:
            ahead.abandon()  # a failed read leaves nothing behind: ``extract`` starts afresh
            raise
        self._prefetched = (dict(cursor), ahead, pages)

    def drop_prefetch(self) -> None:
        """Forget a prefetch (the adapter is closing)."""
        if self._prefetched is not None:
            self._prefetched[1].abandon()
            self._prefetched = None

    def _started(self, cursor: Mapping[str, Any]) -> tuple[Ahead, Iterator[list[Undecoded]]]:
        """The pipeline and the pages for ``cursor``: the prefetched ones if they start there."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None and prefetched[0] == dict(cursor):
            return prefetched[1], prefetched[2]
        if prefetched is not None:
            prefetched[1].abandon()
        return self._new_ahead(), self._pages(cursor)

    def _new_ahead(self) -> Ahead:
        decode = partial(decode_row, self._names, self.client.config.text_encoding)
        return Ahead(self.mapper, self._mapper, self.map_chunk, encode=True, decode=decode)

    def _pages(self, cursor: Mapping[str, Any]) -> Iterator[list[Undecoded]]:
        """The keyset pages, each row with the cursor just after it, not decoded yet — handed
        on ``map_chunk`` rows at a time, so the worker maps the first piece while the rest
        of the page is read (a whole table often fits in one page). The last piece of a
        page takes the remainder (as ``parallel.pieces`` cuts): a small one would be mapped
        here, inline, while the worker idles."""
        cfg = self.client.config
        null_id = int(cursor.get("null_id", 0))
        stamp = datetime.fromisoformat(cursor["updated_at"]) if cursor.get("updated_at") else None
        last_id = int(cursor.get("id", 0))
        position = {"null_id": null_id, "updated_at": cursor.get("updated_at"), "id": last_id}

        dialect = self.client.dialect()
        table = self.table
        piece = max(1, self.map_chunk)
        sizes = _page_sizes(2 * piece, cfg.page_size)
        size = next(sizes)
        while True:
            unstamped = dialect.limit(
                f"SELECT {self._select} FROM {table} WHERE updated_at IS NULL AND id > ? "
                "ORDER BY id",
                size,
            )
            page = self._fetch(unstamped, [null_id])
            items = []
            last = len(page.rows) - 1
            for i, row in enumerate(page.rows):
                null_id = int(row[0])
                position = {**position, "null_id": null_id}
                items.append(Undecoded(row, position))
                if len(items) >= piece and last - i >= piece:  # no small piece at the end
                    yield items
                    items = []
            yield items
            if len(page.rows) < size:
                break
            size = next(sizes)

        high = self.client.scalar(f"SELECT MAX(updated_at) FROM {table}")
        if high is None:
            return
        high_param = dialect.timestamp_param(_as_datetime(high, table, "the newest row"))
        after: tuple[datetime, int] | None = None
        start = None
        if stamp is not None:
            floor = stamp.replace(microsecond=0) - timedelta(seconds=cfg.lookback_s)
            start = dialect.timestamp_param(floor)
        order = " ORDER BY updated_at, id"
        sizes = _page_sizes(2 * piece, cfg.page_size)
        while True:
            size = next(sizes)
            if after is None and start is None:
                sql, params = f"updated_at <= ?{order}", [high_param]
            elif after is None:
                sql, params = f"updated_at >= ? AND updated_at <= ?{order}", [start, high_param]
            else:
                at = dialect.timestamp_param(after[0])
                sql = f"updated_at >= ? AND (updated_at > ? OR id > ?) AND updated_at <= ?{order}"
                params = [at, at, after[1], high_param]
            page = self._fetch(
                dialect.limit(f"SELECT {self._select} FROM {table} WHERE {sql}", size), params
            )
            items = []
            last = len(page.rows) - 1
            for i, row in enumerate(page.rows):
                moment = _as_datetime(row[-1], table, f"row id {row[0]}")
                after = (moment, int(row[0]))
                position = {"null_id": null_id, "updated_at": moment.isoformat(), "id": after[1]}
                items.append(Undecoded(row, position))
                if len(items) >= piece and last - i >= piece:
                    yield items
                    items = []
            yield items
            if len(page.rows) < size:
                return

    def probe_sql(self, dialect: Dialect) -> str:
        """One row of the table with every column the stream reads: a schema check."""
        return dialect.limit(f"SELECT {self._select} FROM {self.table}", 1)

    def _fetch(self, sql: str, params: list[Any]) -> Page:
        self.pages += 1
        return self.client.fetch(sql, params)

    def map(self, item: Extracted) -> Mapped:
        result = self._ahead.result(item) if self._ahead is not None else None
        return mapped(item, result, self._mapper)


class DibaoStream(CivilAffairsStream):
    """最低生活保障: one row per member of a 低保 household, the household's amount on each."""

    name = "dibao"
    table = "dibao"
    columns = (
        *_PERSON,
        "household_no",
        "relation",
        "member_count",
        "monthly_amount",
        "approval_date",
        "status",
    )


class TekunStream(CivilAffairsStream):
    """特困人员供养: people supported by the state, at home (分散) or in an institution (集中)."""

    name = "tekun"
    table = "tekun"
    columns = (*_PERSON, "support_mode", "care_level", "monthly_amount", "approval_date", "status")


class ElderlyAllowanceStream(CivilAffairsStream):
    """高龄补贴: the monthly allowance of residents aged 80 and over."""

    name = "elderly_allowance"
    table = "elderly_allowance"
    columns = (*_PERSON, "age_band", "monthly_amount", "start_date", "status")


class DisabilityStream(CivilAffairsStream):
    """残疾人: certificate holders with category and grade (and the two subsidies)."""

    name = "disability"
    table = "disability"
    columns = (
        *_PERSON,
        "certificate_no",
        "disability_category",
        "disability_grade",
        "subsidy",
        "issue_date",
        "status",
    )


class DeathsStream(CivilAffairsStream):
    """死亡登记: deaths registered with civil affairs (funeral and benefit stop)."""

    name = "deaths"
    table = "deaths"
    columns = (*_PERSON, "death_date", "death_place", "registered_on", "status")


STREAM_CLASSES: tuple[type[CivilAffairsStream], ...] = (
    DibaoStream,
    TekunStream,
    ElderlyAllowanceStream,
    DisabilityStream,
    DeathsStream,
)
