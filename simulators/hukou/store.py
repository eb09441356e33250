"""The simulated 户籍 database: persons in memory, a change feed by keyset, signed page tokens.

The feed is ordered by ``(updated_at, id_number)``. Every change gets a timestamp strictly
greater than any before it, so a record changed while a client is paging moves behind the
client's position and is served again later instead of being skipped — the property a real
change feed must have for an incremental sync to lose nothing. Timestamps of the initial load
deliberately collide (a big migration stamps many rows with one instant) so that a client
relying on ``updated_at`` alone, without the id tie-break, would lose records.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "CST",
    "FIELDS",
    "BadPageToken",
    "HukouPerson",
    "PersonStore",
    "format_ts",
    "parse_ts",
]

CST = timezone(timedelta(hours=8), "CST")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The Person fields in the order of the XSD sequence (the last two are set by the store).
FIELDS = (
    "idNumber",
    "name",
    "gender",
    "birthDate",
    "ethnicity",
    "registeredAddress",
    "householdNo",
    "relationToHead",
    "status",
    "updatedAt",
    "version",
)
STATUSES = ("正常", "迁出", "死亡")


class BadPageToken(ValueError):
    """A page token this server did not issue, or one that was tampered with."""


def format_ts(micros: int) -> str:
    """Render a feed timestamp the way the district system does: local time, +08:00, the
    fraction only when there is one (xsd:dateTime's canonical form)."""
    moment = _EPOCH + timedelta(microseconds=micros)
    return moment.astimezone(CST).isoformat()


def parse_ts(text: str) -> int:
    """An xsd:dateTime to microseconds since the epoch; a naive value is read as +08:00."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CST)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(slots=True)
class HukouPerson:
    """One registration as the source holds it: text fields, possibly wrong (it is a source)."""

    id_number: str
    name: str
    gender: str
    birth_date: str | None
    ethnicity: str | None
    registered_address: str | None
    household_no: str
    relation: str
    status: str
    updated_at: int = 0  # microseconds since the epoch
    version: int = 1
    xml: bytes = field(default=b"", compare=False, repr=False)  # rendered once per version

    @property
    def key(self) -> tuple[int, str]:
        return (self.updated_at, self.id_number)

    def as_fields(self) -> dict[str, str | None]:
        """The wire form: XSD element name → text."""
        return {
            "idNumber": self.id_number,
            "name": self.name,
            "gender": self.gender,
            "birthDate": self.birth_date,
            "ethnicity": self.ethnicity,
            "registeredAddress": self.registered_address,
            "householdNo": self.household_no,
            "relationToHead": self.relation,
            "status": self.status,
            "updatedAt": format_ts(self.updated_at),
            "version": str(self.version),
        }

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> HukouPerson:
        """Build from wire-form names (``idNumber`` …), as the admin API receives them."""

        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(
            id_number=str(data["idNumber"]),
            name=str(data.get("name") or ""),
            gender=str(data.get("gender") or ""),
            birth_date=text("birthDate"),
            ethnicity=text("ethnicity"),
            registered_address=text("registeredAddress"),
            household_no=str(data.get("householdNo") or ""),
            relation=str(data.get("relationToHead") or ""),
            status=str(data.get("status") or "正常"),
        )


class PersonStore:
    """Thread-safe persons by id number plus the sorted keyset that serves the feed."""

    def __init__(
        self,
        persons: Iterable[HukouPerson],
        *,
        seed: int = 1,
        loaded_at: datetime | None = None,
        token_key: bytes | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._token_key = token_key or secrets.token_bytes(32)
        self._by_id: dict[str, HukouPerson] = {}
        base = parse_ts((loaded_at or datetime(2024, 1, 1, tzinfo=CST)).isoformat())
        migration = base - 86_400_000_000 * 400  # the 2022 migration: one instant, many rows
        for p in persons:
            if p.updated_at == 0:
                # Two in five rows keep the migration's stamp; the rest changed since.
                roll = self._rng.random()
                p.updated_at = (
                    migration if roll < 0.4 else base - self._rng.randrange(1, 86_400_000_000 * 365)
                )
            self._by_id[p.id_number] = p
        self._keys = sorted(p.key for p in self._by_id.values())
        self._last = max((k[0] for k in self._keys), default=base)

    def __len__(self) -> int:
        return len(self._by_id)

    # -- reads ---------------------------------------------------------------------------

    def get(self, id_number: str) -> HukouPerson | None:
        with self._lock:
            return self._by_id.get(id_number)

    def page(self, after: tuple[int, str], size: int) -> tuple[list[HukouPerson], bool]:
        """Up to ``size`` persons strictly after ``after``, and whether more follow."""
        with self._lock:
            start = bisect.bisect_right(self._keys, after)
            keys = self._keys[start : start + size]
            more = start + size < len(self._keys)
            return [self._by_id[k[1]] for k in keys], more

    def snapshot(self) -> list[dict[str, Any]]:
        """Every person's key and version, for tests that check nothing was lost."""
        with self._lock:
            return [
                {
                    "idNumber": p.id_number,
                    "updatedAt": format_ts(p.updated_at),
                    "version": p.version,
                }
                for p in (self._by_id[k[1]] for k in self._keys)
            ]

    # -- writes --------------------------------------------------------------------------

    def _stamp(self) -> int:
        """Now, or just after the newest stamp if the clock has not moved (strictly rising)."""
        now = time.time_ns() // 1000
        self._last = max(now, self._last + 1)
        return self._last

    def _replace(self, old: HukouPerson | None, new: HukouPerson) -> None:
        if old is not None:
            i = bisect.bisect_left(self._keys, old.key)
            if i < len(self._keys) and self._keys[i] == old.key:
                del self._keys[i]
        new.updated_at = self._stamp()
        new.xml = b""
        self._by_id[new.id_number] = new
        self._keys.append(new.key)  # the newest stamp always sorts last

    def touch(self, n: int) -> list[str]:
        """Change ``n`` distinct persons the way a registry office does; returns their ids.

        Most changes are corrections that only bump the version; one in five active
        registrations moves out (迁出), which changes the canonical status too.
        """
        with self._lock:
            ids = self._rng.sample(sorted(self._by_id), min(n, len(self._by_id)))
            for id_number in ids:
                old = self._by_id[id_number]
                status = old.status
                if status == "正常" and self._rng.random() < 0.2:
                    status = "迁出"
                self._replace(old, replace(old, status=status, version=old.version + 1))
            return ids

    def put(self, person: HukouPerson) -> None:
        """Insert or replace one person (tests use it to plant bad data)."""
        with self._lock:
            old = self._by_id.get(person.id_number)
            person.version = old.version + 1 if old else 1
            self._replace(old, person)

    # -- page tokens ---------------------------------------------------------------------

    def issue_token(self, last: tuple[int, str], page: int) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps([last[0], last[1], page], separators=(",", ":")).encode()
        ).rstrip(b"=")
        sig = hmac.new(self._token_key, body, hashlib.sha256).digest()[:12]
        return (body + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode("ascii")

    def read_token(self, token: str) -> tuple[tuple[int, str], int]:
        """The key the token continues after and the number of the page it asks for."""
        try:
            body, sig = token.strip().encode("ascii").split(b".", 1)
            want = hmac.new(self._token_key, body, hashlib.sha256).digest()[:12]
            if not hmac.compare_digest(
                base64.urlsafe_b64decode(sig + b"=" * (-len(sig) % 4)), want
            ):
                raise BadPageToken("signature mismatch")
            ts, id_number, page = json.loads(
                base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
            )
            return (int(ts), str(id_number)), int(page)
        except BadPageToken:
            raise
        except (ValueError, TypeError, UnicodeError) as exc:
            raise BadPageToken("not a page token") from exc
