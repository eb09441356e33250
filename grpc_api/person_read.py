"""``GetPerson`` on PostgreSQL without an ORM session per call, the message built from the row.

Why: under load a ``GetPerson`` spent more server CPU on the machinery around the read than
on the read — an ORM ``Session``, a pool checkout with an isolation-level switch, a pydantic
view copied field by field into protobuf, then a psycopg cursor's per-call work and ISO time
strings parsed back into datetimes. Here one prepared statement
(:mod:`grpc_api.person_sql`: the rows of :data:`api.person_rows.ONE_TRIP_SQL` as one JSON
array, times as epoch microseconds) runs through libpq on an autocommit connection kept
between calls, and the message is filled straight from it; an address shown three times
(residential, registered, household — usually one and the same) is masked once per call.

What does not change: the rows, :meth:`~api.policy.Policy.assess` (purpose, reveal), the
scope check (:meth:`~api.policy.Policy.visible`, the authoritative Python one), the maskers
(:class:`~api.redaction.Redactor`) and the read entry (:meth:`~api.policy.Policy.record_read`,
queued before the message is built, so a failure while building is logged ``not_sent`` by the
dispatcher as on the shared path). Every other case — an invalid uid, any refusal, a person
outside the caller's scope, SQL's scope disagreeing with the policy — returns None and the
caller takes the shared path (:func:`api.person_record.read_person`), so refusals and their
log entries keep one implementation. ``tests/grpc_api/test_person_read.py`` builds both on the
same data and requires equal messages and equal log entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from api.context import Hub
from api.errors import NotFound
from api.held import HeldConnections
from api.person_record import ULID
from api.policy import GRPC, Policy
from api.redaction import PERSON_FIELDS, Redactor
from grpc_api import convert
from grpc_api.gen.gridhub.v1 import common_pb2, person_pb2
from grpc_api.handlers import Call
from grpc_api.person_batch import GroupReads
from grpc_api.person_sql import PersonJson, fetch_persons
from identity import Principal


class PersonReader:
    """The fast ``GetPerson``; :meth:`applies` says whether this hub can use it.

    Connections: at most ``keep`` idle autocommit connections are held between calls
    (:class:`api.held.HeldConnections`, as REST's plain reads hold theirs; taken from the
    hub's pool, so they count against it). The default keeps half the pool, leaving the rest
    to the other services' calls. At most ``hub.config.db_active_reads`` statements run at
    once (``api.held``). :meth:`close` hands them back (server stop).

    Reads: the process's concurrent reads share statements, ``max_batch`` at most to one and
    ``lanes`` statements at once (:class:`grpc_api.person_batch.GroupReads`).
    """

    def __init__(
        self, hub: Hub, *, keep: int | None = None, max_batch: int = 16, lanes: int = 1
    ) -> None:
        self.hub = hub
        self.policy: Policy = hub.policy
        self.engine: Engine = hub.sessions.kw["bind"]
        self.connections = HeldConnections(
            self.engine,
            keep=max(1, hub.config.db_pool_size // 2) if keep is None else keep,
            active=hub.config.db_active_reads,
        )
        self.group: GroupReads[PersonJson] = GroupReads(
            self._fetch_many, max_batch=max_batch, lanes=lanes
        )

    @staticmethod
    def applies(hub: Hub) -> bool:
        """PostgreSQL with queued read entries: where the shared path takes its one-statement
        autocommit branch too. Durable read logs write the entry in the read's transaction."""
        bind = hub.sessions.kw.get("bind")
        return (
            isinstance(bind, Engine)
            and bind.dialect.name == "postgresql"
            and not hub.policy.writes_reads_inline
        )

    def read(self, call: Call, uid: str, reveal: bool) -> person_pb2.Person | None:
        """The caller's view of ``uid``, its read queued to the log; None: use the shared path."""
        if not ULID.fullmatch(uid):
            return None
        access, refusal = self.policy.assess(
            call.principal,
            channel=GRPC,
            correlation_id=call.correlation_id,
            purpose=call.purpose,
            reveal=reveal,
        )
        if refusal is not None:
            return None
        rows = self._fetch(call, uid)
        if rows is None:
            raise NotFound("no such person")
        if not self.policy.visible(access.principal, rows.person[8]) or rows.household is None:
            return None
        r = access.redactor
        address = _Addresses(r)
        household, shown = _household(self.policy, call, r, address, rows)
        self.policy.record_read(
            None,  # queued: the fast reader is used only when read logs are queued
            access,
            operation="person.get",
            persons=[uid, *shown],
            fields=PERSON_FIELDS,
            count=1,
        )
        return _person(r, address, uid, rows, household)

    def _fetch(self, call: Call, uid: str) -> PersonJson | None:
        """This read, in one statement with the reads waiting beside it
        (:mod:`grpc_api.person_batch`)."""
        return self.group.read(call.principal, uid)

    def _fetch_many(self, asked: Sequence[tuple[Principal, str]]) -> list[PersonJson | None]:
        """One statement; once more on a fresh connection if the server dropped the held one
        (a restart): it wrote nothing and nothing was logged yet (as ``read_person`` does).
        A failed connection is closed, and its idle siblings with it when it was invalidated
        (``api.held``)."""
        for attempt in (1, 2):
            try:
                with self.connections.connection() as conn:
                    return fetch_persons(conn, asked)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Return the held connections to the pool."""
        self.connections.close()


def _stamp(micros: int | None) -> Timestamp | None:
    """Microseconds since the epoch to a ``Timestamp`` (floor division: as
    :func:`grpc_api.convert.timestamp` splits a datetime, before the epoch too)."""
    if micros is None:
        return None
    seconds, rest = divmod(micros, 1_000_000)
    return Timestamp(seconds=seconds, nanos=rest * 1000)


class _Addresses:
    """An address masked once per call: the residential, registered and household address
    are usually one and the same."""

    __slots__ = ("_r", "_seen")

    def __init__(self, r: Redactor) -> None:
        self._r = r
        self._seen: dict[str, str] = {}

    def __call__(self, value: str | None) -> str:
        if value is None:
            return ""
        shown = self._seen.get(value)
        if shown is None:
            shown = self._seen[value] = self._r.address(value) or ""
        return shown


def _household(
    policy: Policy, call: Call, r: Redactor, address: _Addresses, rows: PersonJson
) -> tuple[person_pb2.Household | None, list[str]]:
    """The household as this caller may see it, and the member uids it shows (logged)."""
    members = rows.household or []
    if not members:
        return None, []
    own = members[0]
    person_id = rows.person[0]
    others = [m for m in members if m[0] == own[0] and m[4] != person_id]
    shown = [m for m in others if policy.visible(call.principal, m[7])]
    message = person_pb2.Household(
        household_no=r.key(own[2]) or "",
        address=address(own[3]),
        relation=own[1] or "",
        members=[
            person_pb2.HouseholdMember(
                person_uid=m[5], name=r.name(m[6]) or "", relation=m[8] or ""
            )
            for m in shown
        ],
        hidden_members=len(others) - len(shown),
    )
    return message, [m[5] for m in shown]


def _lineage_and_sources(
    r: Redactor, rows: list[Any]
) -> tuple[list[person_pb2.FieldLineage], list[person_pb2.SourceSummary]]:
    lineage = []
    sources = []
    for kind, field, source, stream, key, version, rule, when in rows:
        if kind == 0:
            lineage.append(
                person_pb2.FieldLineage(
                    field=field,
                    source=source or "",
                    stream=stream or "",
                    source_key=r.key(key) or "",
                    version=version or 0,
                    rule=rule or "",
                    chosen_at=_stamp(when),
                )
            )
        elif kind == 1:
            sources.append(
                person_pb2.SourceSummary(
                    source=source, stream=stream, records=int(version), last_updated_at=_stamp(when)
                )
            )
    return lineage, sources


def _event(row: list[Any], uid: str) -> common_pb2.Event:
    """:func:`convert.event` of :func:`api.person_record.event_view`, without the view."""
    e_uid, kind, severity, occurred, grid, source, source_ref, reports, created = row
    return common_pb2.Event(
        uid=e_uid,
        type=kind,
        severity=convert.SEVERITIES[severity],
        occurred_at=_stamp(occurred),
        grid_code=grid or "",
        source=source,
        source_ref=source_ref or "",
        person_uid=uid,
        report_count=reports,
        created_at=_stamp(created),
    )


def _person(
    r: Redactor,
    address: _Addresses,
    uid: str,
    rows: PersonJson,
    household: person_pb2.Household | None,
) -> person_pb2.Person:
    row = rows.person
    lineage, sources = _lineage_and_sources(r, rows.lineage_and_sources or [])
    birth = row[6]
    return person_pb2.Person(
        uid=uid,
        name=r.name(row[2]) or "",
        name_pinyin=(row[3] or "") if r.clear else "",
        resident_id=r.resident_id(row[4]) or "",
        gender=convert.GENDERS[row[5]],
        birth_date=r.birth_date(date.fromisoformat(birth) if birth is not None else None) or "",
        phone=r.phone(row[7]) or "",
        residential_address=address(row[14]),
        registered_address=address(row[15]),
        grid_code=row[8] or "",
        status=convert.PERSON_STATUSES[row[12]],
        tags=row[9] or (),
        flags=row[10] or (),
        conflicting_fields=sorted((row[11] or {}).keys()),
        lineage=lineage,
        household=household,
        sources=sources,
        recent_events=[_event(e, uid) for e in rows.events or ()],
        open_tasks=[
            person_pb2.TaskBrief(
                uid=u,
                category=c,
                title=t,
                state=convert.TASK_STATES[s],
                priority=p,
                sla_deadline=_stamp(d),
                assignee=a or "",
            )
            for u, c, t, s, p, d, a in rows.tasks or ()
        ],
        merged_into_uid=row[16] or "",
        masked=not r.clear,
        updated_at=_stamp(row[13]),
    )


__all__ = ["PersonReader"]
