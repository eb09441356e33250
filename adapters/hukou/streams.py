"""The 户籍 streams: one, ``persons``, read from the service's change feed.

The cursor is the keyset of the last record handed to the engine — ``{"since": updatedAt,
"last_id": idNumber}``, both as the server wrote them — and every record carries the cursor
just after itself. The engine commits a checkpoint's records together with the cursor of its
last record, so after a crash the stored cursor names exactly the last stored record, even
when that record sat in the middle of a page. Resuming asks for the records after that key,
not for a page: a page token or an offset would go stale as soon as a record changed, and
``updatedAt`` alone would lose the rest of a group of records stamped in the same instant
(a bulk migration stamps thousands that way).

Pages are fetched one ahead and mapped in a worker process (``PageMapper``) while the
engine stores the page before; records still reach the engine one by one, in feed order,
and ``map`` hands over the worker's result for exactly the record just yielded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from typing import Any, ClassVar

from adapters.contract import Extracted, Mapped, SourceUnavailable, Stream
from adapters.hukou.client import HukouClient, Page
from adapters.hukou.mapping import map_person
from adapters.hukou.parallel import PageMapper, Result
from adapters.parallel import mapped

__all__ = ["PersonsStream"]

_Ahead = tuple[Page, Future[list[Result]] | None]


class PersonsStream(Stream):
    name: ClassVar[str] = "persons"
    primary_key: ClassVar[tuple[str, ...]] = ("idNumber",)
    cursor_field: ClassVar[str | None] = "updatedAt"

    def __init__(self, client: HukouClient, page_size: int, mapper: PageMapper) -> None:
        self.client = client
        self.page_size = page_size
        self.mapper = mapper
        self.pages = 0
        self._premapped: tuple[Extracted, Result] | None = None

    def _pages(self, cursor: Mapping[str, Any]) -> Iterator[Page]:
        since, last_id = cursor.get("since"), cursor.get("last_id")
        token: str | None = None
        while True:
            page = self.client.query_changed(
                since=since, after_id=last_id, page_token=token, page_size=self.page_size
            )
            self.pages += 1
            yield page
            if not page.next_token:
                return
            token = page.next_token

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted]:
        position = dict(cursor)
        ahead: deque[_Ahead] = deque()
        try:
            for page in self._pages(cursor):
                ahead.append((page, self.mapper.submit(page.persons)))
                if len(ahead) > 1:
                    yield from self._items(*ahead.popleft(), position)
        except SourceUnavailable:
            # Pages fetched before the failure are complete: let the engine store them.
            while ahead:
                yield from self._items(*ahead.popleft(), position)
            raise
        while ahead:
            yield from self._items(*ahead.popleft(), position)

    def _items(
        self, page: Page, future: Future[list[Result]] | None, position: dict[str, Any]
    ) -> Iterator[Extracted]:
        results = self.mapper.results(future)
        for i, raw in enumerate(page.persons):
            key = (raw.get("idNumber") or "").strip() or None
            stamp = raw.get("updatedAt")
            if key and stamp:
                # The server's keyset sorts on these exact values: keep them verbatim.
                position = {"since": stamp.strip(), "last_id": raw["idNumber"]}
            item = Extracted(raw=raw, cursor=position, source_key=key)
            self._premapped = (item, results[i]) if results is not None else None
            yield item
        self._premapped = None

    def map(self, item: Extracted) -> Mapped:
        pre = self._premapped
        if pre is None or pre[0] is not item:
            return map_person(item)  # inline: no worker result for this record
        self._premapped = None
        return mapped(item, pre[1], map_person)
