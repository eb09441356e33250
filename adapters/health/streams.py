"""The health streams: ``patients``, ``encounters``, ``observations``, one FHIR search each.

The cursor is a ``_lastUpdated`` watermark — ``{"last_updated": <FHIR instant>}`` as the
server wrote it — and it moves only once a whole search has been read. A search's pages
arrive long before its end and a FHIR server offers no resumable position inside a search
(its ``next`` links expire with the search), so every record carries the watermark the
search *started* from: a checkpoint in the middle commits records but leaves the cursor
where it was. When the last page is in, ``final_cursor`` hands the engine the new
watermark: the Bundle's ``meta.lastUpdated`` (the instant the server took its snapshot —
everything older is in the search, everything newer comes next time) or, from a server
that does not send it, the newest ``lastUpdated`` seen. A crash or an error part-way keeps
the old watermark; the next run reads the same resources again and the engine recognises
each by its content hash (counted ``unchanged``, nothing rewritten). ``lookback_s`` widens
each search a little below the watermark for resources a server commits late.

With ``map_workers`` a worker process validates and maps page N+1 while this process
stores page N (``parallel.PageMapper``); the next page is then fetched before the current
one is handed over, so an error on a page may leave the page before it unstored — it comes
again with the same watermark.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any, ClassVar

from adapters.contract import Extracted, Mapped, RecordRejected, Stream
from adapters.health.client import FhirClient, Page
from adapters.health.config import HealthConfig
from adapters.health.parallel import PageMapper, Result, canonical_of, map_resource

__all__ = ["EncountersStream", "FhirStream", "ObservationsStream", "PatientsStream"]


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class FhirStream(Stream):
    """One resource type read through ``_lastUpdated`` searches."""

    resource_type: ClassVar[str]
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = "meta.lastUpdated"

    def __init__(self, client: FhirClient, config: HealthConfig, mapper: PageMapper) -> None:
        self.client = client
        self.config = config
        self.mapper = mapper
        self.pages = 0
        self._final: dict[str, Any] | None = None
        self._newest: tuple[datetime, str] | None = None
        self._premapped: tuple[Extracted, Result] | None = None

    def _since(self, watermark: datetime | None) -> str | None:
        if watermark is None:
            return None
        return (watermark - timedelta(seconds=self.config.lookback_s)).isoformat(
            timespec="milliseconds"
        )

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted]:
        self._final, self._newest = None, None
        start = {"last_updated": cursor["last_updated"]} if cursor.get("last_updated") else {}
        since = _instant(start.get("last_updated"))
        snapshot: str | None = None
        ahead: deque[tuple[Page, Future[list[Result]] | None]] = deque()
        systems, codes = self.config.resident_id_systems, self.config.gender_codes
        for page in self.client.search(self.resource_type, self._since(since)):
            self.pages += 1
            if page.number == 1:
                snapshot = page.snapshot if _instant(page.snapshot) else None
            future = self.mapper.submit(self.resource_type, systems, page.resources, codes)
            ahead.append((page, future))
            # Hand a page over once the next one is in the worker (or at once, inline).
            while ahead and (len(ahead) > 1 or ahead[0][1] is None):
                yield from self._items(*ahead.popleft(), start)
        while ahead:
            yield from self._items(*ahead.popleft(), start)
        # The whole search is in: only now may the watermark move.
        mark = snapshot or (self._newest[1] if self._newest else None)
        moment = _instant(mark)
        if mark and moment is not None and (since is None or moment > since):
            self._final = {"last_updated": mark}

    def _items(
        self, page: Page, future: Future[list[Result]] | None, start: dict[str, Any]
    ) -> Iterator[Extracted]:
        results = self.mapper.results(future)
        for i, resource in enumerate(page.resources):
            if not isinstance(resource, dict):
                item = Extracted(raw=b"", cursor=start)
            else:
                rid = resource.get("id")
                key = f"{self.resource_type}/{rid}" if isinstance(rid, str) and rid else None
                meta = resource.get("meta")
                stamp = meta.get("lastUpdated") if isinstance(meta, dict) else None
                moment = _instant(stamp)
                if moment is not None and (self._newest is None or moment > self._newest[0]):
                    self._newest = (moment, str(stamp))
                item = Extracted(raw=resource, cursor=start, source_key=key)
            self._premapped = (item, results[i]) if results is not None else None
            yield item
        self._premapped = None

    def final_cursor(self) -> Mapping[str, Any] | None:
        return self._final

    def map(self, item: Extracted) -> Mapped:
        raw = item.raw
        pre, self._premapped = self._premapped, None
        if pre is not None and pre[0] is item and pre[1][0] == "rejected":
            raise RecordRejected(pre[1][1], pre[1][2], source_key=item.source_key)
        systems, codes = self.config.resident_id_systems, self.config.gender_codes
        if pre is not None and pre[0] is item and pre[1][0] == "ok":
            assert isinstance(raw, Mapping)  # the worker refused anything else
            canonical = pre[1][1] or canonical_of(raw, self.resource_type, systems, codes)
        else:  # inline: no worker, or the worker raised (raise the real error here)
            canonical = map_resource(raw, self.resource_type, systems, codes)
        assert isinstance(raw, Mapping)  # map_resource refused anything else
        key = item.source_key or f"{self.resource_type}/{raw['id']}"
        return Mapped(source_key=key, payload=raw, canonical=canonical)


class PatientsStream(FhirStream):
    name: ClassVar[str] = "patients"
    resource_type: ClassVar[str] = "Patient"


class EncountersStream(FhirStream):
    name: ClassVar[str] = "encounters"
    resource_type: ClassVar[str] = "Encounter"


class ObservationsStream(FhirStream):
    name: ClassVar[str] = "observations"
    resource_type: ClassVar[str] = "Observation"
