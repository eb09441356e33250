"""The resources the FHIR server holds, their versions and the searches it has started.

Searches work as HAPI FHIR's do: the first request fixes the result set (a snapshot of ids,
oldest ``meta.lastUpdated`` first) and later pages are fetched by offset through a
``_getpages`` link, so paging stays consistent while resources change. The bundle's
``meta.lastUpdated`` is the instant the snapshot was taken: every resource written before
it is in the snapshot or older than the search's lower bound, every resource written after
it has a later ``lastUpdated`` — which is what lets a client use it as its next watermark.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulators.health.data import CST, format_instant

__all__ = ["TYPES", "BadSearch", "ResourceStore", "SearchGone", "parse_when"]

TYPES = ("Patient", "Encounter", "Observation")
_MAX_SEARCHES = 128
_MS = timedelta(milliseconds=1)


class BadSearch(ValueError):
    """A search the server refuses (400 with an OperationOutcome)."""


class SearchGone(KeyError):
    """A ``_getpages`` id the server no longer (or never) knew: 410 Gone."""


@dataclass(slots=True)
class _Stored:
    rtype: str
    rid: str
    version: int
    updated: datetime
    body: bytes
    resource: dict[str, Any]


@dataclass(slots=True)
class _Search:
    rtype: str
    keys: list[str]
    taken: str


def parse_when(value: str) -> tuple[datetime, datetime]:
    """The instant range a search date covers: a day, or one instant (CST when no zone)."""
    text = value.strip()
    if len(text) == 10:
        start = datetime.combine(date.fromisoformat(text), datetime.min.time(), CST)
        return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadSearch(f"_lastUpdated: cannot parse {value!r} as a date or dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    moment = moment.astimezone(UTC)
    return moment, moment + _MS


class ResourceStore:
    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, _Stored] = {}
        self._last = datetime(1970, 1, 1, tzinfo=UTC)
        self._searches: OrderedDict[str, _Search] = OrderedDict()
        self._rng = random.Random(11)
        for res in resources:
            stamp = res.get("meta", {}).get("lastUpdated")
            updated = parse_when(stamp)[0] if stamp else self._tick()
            self._place(res, int(res.get("meta", {}).get("versionId", 1)), updated)
            self._last = max(self._last, updated)

    def __len__(self) -> int:
        return len(self._items)

    def count(self, rtype: str) -> int:
        return sum(1 for s in self._items.values() if s.rtype == rtype)

    # -- writing -------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """Strictly increasing instants: two writes never share a ``lastUpdated``."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last = max(now, self._last + _MS)
        return self._last

    def _place(self, res: dict[str, Any], version: int, updated: datetime) -> None:
        rtype, rid = str(res.get("resourceType")), str(res.get("id"))
        res.setdefault("meta", {})
        res["meta"]["versionId"] = str(version)
        res["meta"]["lastUpdated"] = format_instant(updated)
        body = json.dumps(res, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._items[f"{rtype}/{rid}"] = _Stored(rtype, rid, version, updated, body, res)

    def put(self, resource: dict[str, Any]) -> str:
        """Create or replace a resource as given (invalid ones too); returns its lastUpdated."""
        res = json.loads(json.dumps(resource))
        with self._lock:
            key = f"{res.get('resourceType')}/{res.get('id')}"
            old = self._items.get(key)
            self._place(res, old.version + 1 if old else 1, self._tick())
            return str(res["meta"]["lastUpdated"])

    def touch(self, rtype: str, n: int) -> list[str]:
        """Change ``n`` resources of a type the way clinics do: a new phone number, a
        patient discharged, an amended value. Returns their ids."""
        with self._lock:
            pool = [s for s in self._items.values() if s.rtype == rtype]
            chosen = self._rng.sample(pool, min(n, len(pool)))
            for s in chosen:
                res = json.loads(s.body)
                _amend(res, self._rng)
                self._place(res, s.version + 1, self._tick())
            return [s.rid for s in chosen]

    # -- reading -------------------------------------------------------------------------

    def read(self, rtype: str, rid: str) -> bytes | None:
        item = self._items.get(f"{rtype}/{rid}")
        return item.body if item else None

    def search(self, rtype: str, bounds: list[tuple[str, str]]) -> tuple[str, int, str]:
        """Start a search: (search id, total, snapshot instant)."""
        lo = datetime.min.replace(tzinfo=UTC)
        hi = datetime.max.replace(tzinfo=UTC)
        for prefix, value in bounds:
            start, end = parse_when(value)
            if prefix == "gt":
                lo = max(lo, end)
            elif prefix == "ge":
                lo = max(lo, start)
            elif prefix == "lt":
                hi = min(hi, start)
            elif prefix == "le":
                hi = min(hi, end)
            elif prefix == "eq":
                lo, hi = max(lo, start), min(hi, end)
            else:
                raise BadSearch(f"_lastUpdated: prefix {prefix!r} is not supported")
        with self._lock:
            taken = format_instant(self._tick())
            hits = sorted(
                (s.updated, s.rid)
                for s in self._items.values()
                if s.rtype == rtype and lo <= s.updated < hi
            )
            sid = secrets.token_hex(8)
            self._searches[sid] = _Search(rtype, [f"{rtype}/{rid}" for _, rid in hits], taken)
            while len(self._searches) > _MAX_SEARCHES:
                self._searches.popitem(last=False)
        return sid, len(hits), taken

    def page(self, sid: str, offset: int, count: int) -> tuple[list[_Stored], int, str, str]:
        """Resources at ``offset`` of a search: (items, total, snapshot instant, type)."""
        with self._lock:
            search = self._searches.get(sid)
            if search is None:
                raise SearchGone(sid)
            self._searches.move_to_end(sid)
            keys = search.keys[offset : offset + count]
            items = [self._items[k] for k in keys if k in self._items]
            return items, len(search.keys), search.taken, search.rtype

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "type": s.rtype,
                    "id": s.rid,
                    "version": s.version,
                    "lastUpdated": format_instant(s.updated),
                }
                for s in sorted(self._items.values(), key=lambda s: (s.updated, s.rid))
            ]


def _amend(res: dict[str, Any], rng: random.Random) -> None:
    kind = res.get("resourceType")
    if kind == "Patient":
        phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        res["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
    elif kind == "Encounter":
        period = res.setdefault("period", {})
        if res.get("status") != "finished":
            res["status"] = "finished"
            period["end"] = format_instant(datetime.now(UTC))
        else:
            res.setdefault("type", [{}])[0]["text"] = "住院(已复核)"
    elif kind == "Observation":
        res["status"] = "amended"
        quantity = res.get("valueQuantity")
        if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
            quantity["value"] = quantity["value"] + 1
