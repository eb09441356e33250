"""The one access policy of the serving layers: REST and gRPC both go through it.

Three questions, answered here and nowhere else:

* **where** — a caller sees persons, events and tasks filed under grid units its token covers
  (``identity.grids``); as SQL (:meth:`Policy.scope`) for lists, as a check
  (:meth:`Policy.ensure_visible`) for single records. Rows with no unit are visible only to
  callers who see the whole district: fail closed.
* **how much** — identifiers are masked unless the request asks to reveal them, declares a
  purpose, and the token both holds the permission and lists that purpose
  (``identity.masking.MaskingPolicy``). A declared purpose the token does not list is refused
  even for a masked read: a worker claiming a purpose they were not given is worth a record.
* **who saw what** — every read of personal data appends an exchange-log entry (who, role,
  purpose, which person uids, which fields, masked or clear) before the data is returned:
  queued to the process's group-committing appender (``audit.buffered``, the default; its
  durability is documented there), or, with durable read logs, in the request's own
  transaction, so data never leaves without its entry committed. A read whose entry cannot
  be queued is refused. Refusals of an authenticated caller are logged too, in a transaction
  of their own, durably, since the request's rolls back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    String,
    and_,
    bindparam,
    false,
    or_,
    text,
    true,
)
from sqlalchemy.orm import Session

import audit
from api.errors import (
    ApiError,
    Forbidden,
    OutsideScope,
    PurposeMissing,
    PurposeNotAllowed,
    PurposeUnknown,
    RevealRefused,
)
from api.redaction import Redactor
from audit.buffered import BufferedAppender
from canonical_model import Direction
from identity import MaskingPolicy, Permission, Principal
from identity.grids import ALL_GRIDS, covers, is_grid_code
from identity.purposes import is_purpose_name
from identity.roles import SEES_ALL_GRIDS, Role

REST = "rest"
GRPC = "grpc"
_DURABLE = text("SET LOCAL synchronous_commit TO ON")
_MAX_ACTOR = 120  # exchange_log.actor_subject


@dataclass(frozen=True, slots=True)
class Access:
    """One request's standing: who, through which channel, why, and masked or clear."""

    principal: Principal
    channel: str
    correlation_id: str
    purpose: str | None = None
    clear: bool = False
    redactor: Redactor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "redactor", Redactor(self.clear))

    @property
    def counterpart(self) -> str:
        """A platform is the system on the other side; people come through a channel."""
        if self.principal.role is Role.PLATFORM:
            return actor_name(self.principal.subject)[:80]
        return self.channel


def actor_name(subject: str) -> str:
    """The subject as the log stores it: long ones shortened with a digest, never ambiguous."""
    if len(subject) <= _MAX_ACTOR:
        return subject
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:16]
    return f"{subject[: _MAX_ACTOR - 17]}~{digest}"


def durable(session: Session) -> None:
    """Make this transaction's commit wait for the WAL flush, whatever the connection default.

    The API's PostgreSQL connections default to asynchronous commit (see
    ``ApiConfig.durable_read_logs``), which only reads may use: every write path calls this.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_DURABLE)


def sees_everything(principal: Principal) -> bool:
    return principal.role in SEES_ALL_GRIDS or ALL_GRIDS in principal.grids


def _minimal(codes: Iterable[str]) -> list[str]:
    """Drop codes already covered by a coarser one, so the SQL has one range per subtree."""
    ordered = sorted({c for c in codes if is_grid_code(c)}, key=len)
    kept: list[str] = []
    for code in ordered:
        if not any(covers(k, code) for k in kept):
            kept.append(code)
    return sorted(kept)


class Policy:
    def __init__(
        self,
        masking: MaskingPolicy | None = None,
        *,
        log_reads: bool = True,
        reads: BufferedAppender | None = None,
    ) -> None:
        self.masking = masking or MaskingPolicy()
        # Only the benchmark turns this off, to measure what logging costs.
        self.log_reads = log_reads
        # Read entries go here when set (group commit); else into the request's transaction.
        self.reads = reads

    @property
    def writes_reads_inline(self) -> bool:
        """Whether :meth:`record_read` writes into the request's own transaction (durable
        read logs), rather than queueing (or, in the benchmark, skipping) the entry."""
        return self.log_reads and self.reads is None

    def flush_reads(self) -> None:
        """Commit every read entry this process has queued (before an auditor's query)."""
        if self.reads is not None:
            self.reads.flush()

    # --- who, and how much ----------------------------------------------------------------

    def assess(
        self,
        principal: Principal,
        *,
        channel: str,
        correlation_id: str,
        purpose: str | None = None,
        reveal: bool = False,
    ) -> tuple[Access, ApiError | None]:
        """The request's standing and, if it is refused, why — without touching the store.

        Pure, so an async caller can run it on the event loop and send only a refusal (which
        writes to the log) to a worker thread. A raw purpose that fails the check is never
        carried into the returned access, so it can never reach the log.
        """
        access = Access(principal, channel, correlation_id)
        declared = purpose.strip() if purpose else None
        if declared:
            if not is_purpose_name(declared) or declared not in self.masking.vocabulary:
                return access, PurposeUnknown()
            if not principal.may_use_purpose(declared):
                return access, PurposeNotAllowed()
        access = Access(principal, channel, correlation_id, purpose=declared)
        if not reveal:
            return access, None
        if declared is None:
            return access, PurposeMissing()
        if not self.masking.decide(principal, declared):
            return access, RevealRefused()
        return Access(principal, channel, correlation_id, purpose=declared, clear=True), None

    def open(
        self,
        session: Session,
        principal: Principal,
        *,
        channel: str,
        correlation_id: str,
        operation: str,
        purpose: str | None = None,
        reveal: bool = False,
    ) -> Access:
        """:meth:`assess`, with a refusal logged (in its own transaction) and raised."""
        access, refusal = self.assess(
            principal,
            channel=channel,
            correlation_id=correlation_id,
            purpose=purpose,
            reveal=reveal,
        )
        if refusal is not None:
            self.deny(session, access, operation, refusal)
        return access

    def require(
        self, session: Session, access: Access, permission: Permission, operation: str
    ) -> None:
        if not access.principal.has(permission):
            self.deny(session, access, operation, Forbidden())

    # --- where ----------------------------------------------------------------------------

    @staticmethod
    def visible(principal: Principal, grid_code: str | None) -> bool:
        if grid_code is None:
            return sees_everything(principal)
        return principal.can_see(grid_code)

    @staticmethod
    def scope(principal: Principal, column: Any) -> ColumnElement[bool]:
        """SQL for "the row's grid code is in the caller's view": :meth:`bound_scope` with
        the caller's codes attached, for a statement built per request."""
        codes = Policy.scope_codes(principal)
        return true() if codes is None else _scope(_params(len(codes), codes), column)

    @staticmethod
    def scope_codes(principal: Principal) -> tuple[str, ...] | None:
        """The granted codes :meth:`scope` ranges over, one per subtree; None when the
        caller sees everything."""
        if sees_everything(principal):
            return None
        return tuple(_minimal(principal.grids))

    @staticmethod
    def scope_values(codes: Iterable[str]) -> dict[str, str]:
        """The values :meth:`bound_scope` and :meth:`bound_scope_parts` bind, for
        :meth:`scope_codes`."""
        listed = list(codes)
        return {p.key: str(p.value) for pair in _params(len(listed), listed) for p in pair}

    @staticmethod
    def bound_scope(grants: int | None, column: Any) -> ColumnElement[bool]:
        """SQL for "the row's grid code is in the view of a caller with ``grants`` codes"
        (None: sees everything), the codes bound at execution (:meth:`scope_values`), so one
        statement — compiled once, its result columns matched once — serves all of them.

        A range per granted subtree (``code <= x < code + "A"``: digits sort below letters in
        every collation) so a plain b-tree index serves it, plus the exact prefix test."""
        return true() if grants is None else _scope(_params(grants), column)

    @staticmethod
    def bound_scope_parts(grants: int, column: Any) -> list[ColumnElement[bool]]:
        """:meth:`bound_scope` as disjoint conditions whose union is exactly the same rows.

        Per granted code, its own rows as an *equality* and the units below it as the range
        without the code itself. A query that runs one branch per part (``UNION ALL``) gets a
        grid's rows from an index on ``(grid_code, x)`` already ordered by ``x``, so an
        ``ORDER BY x LIMIT n`` stops after n rows instead of reading and sorting the whole
        grid; the "below" branch of a grid with no micro-grids is one empty index probe."""
        parts: list[ColumnElement[bool]] = []
        for code, end in _params(grants):
            parts.append(column == code)
            parts.append(and_(column > code, column < end, column.startswith(code)))
        return parts

    def ensure_visible(
        self,
        session: Session,
        access: Access,
        grid_code: str | None,
        *,
        operation: str,
        refs: Mapping[str, Any],
    ) -> None:
        if not self.visible(access.principal, grid_code):
            self.deny(session, access, operation, OutsideScope(), refs)

    # --- who saw what ---------------------------------------------------------------------

    def record_read(
        self,
        session: Session | None,
        access: Access,
        *,
        operation: str,
        persons: Iterable[str] = (),
        fields: Iterable[str] = (),
        refs: Mapping[str, Any] | None = None,
        count: int = 0,
    ) -> None:
        """Log the read: queued to the group-committing appender before the data is returned,
        or appended to the request's transaction (committed by the caller); ``session`` may
        be None only where reads are queued (a caller that holds no ORM session)."""
        if not self.log_reads:
            return
        object_refs: dict[str, Any] = {
            "persons": sorted(set(persons)),
            "fields": list(fields),
            "clear": access.clear,
            **(refs or {}),
        }
        if self.reads is not None:
            self.reads.submit(_entry(access, Direction.READ, operation, object_refs, count, "ok"))
            return
        if session is None:
            raise ValueError("a durable read log is written in the request's session; none given")
        self._append(session, access, Direction.READ, operation, object_refs, count, "ok")

    def record_change(
        self,
        session: Session,
        access: Access,
        *,
        operation: str,
        refs: Mapping[str, Any],
        count: int = 1,
    ) -> None:
        """A change made through the API (a task transition, an event): always durable."""
        durable(session)
        self._append(session, access, Direction.INBOUND, operation, dict(refs), count, "ok")

    def deny(
        self,
        session: Session,
        access: Access,
        operation: str,
        error: ApiError,
        refs: Mapping[str, Any] | None = None,
    ) -> None:
        """Log the refusal in its own committed transaction, then raise ``error``.

        The request's transaction is rolled back first: it is about to fail anyway, and on
        SQLite it could otherwise hold the write lock the log entry needs.
        """
        session.rollback()
        object_refs = {"reason": error.problem_code, **(refs or {})}
        with Session(bind=session.get_bind()) as own, own.begin():
            durable(own)
            self._append(own, access, Direction.READ, operation, object_refs, 0, "denied")
        raise error

    def _append(
        self,
        session: Session,
        access: Access,
        direction: Direction,
        operation: str,
        object_refs: dict[str, Any],
        count: int,
        result: str,
    ) -> None:
        entry = _entry(access, direction, operation, object_refs, count, result)
        audit.append_many(session, [entry])


Bound = BindParameter[str]


def _params(grants: int, codes: Sequence[str] | None = None) -> list[tuple[Bound, Bound]]:
    """Per grant, the bound code and its end of range, carrying ``codes`` when given (their
    values are :meth:`Policy.scope_values`), else to be bound at execution."""
    if codes is None:
        return [
            (bindparam(f"scope_{n}", type_=String), bindparam(f"scope_{n}_end", type_=String))
            for n in range(grants)
        ]
    return [
        (
            bindparam(f"scope_{n}", code, type_=String),
            bindparam(f"scope_{n}_end", code + "A", type_=String),
        )
        for n, code in enumerate(codes)
    ]


def _scope(params: list[tuple[Bound, Bound]], column: Any) -> ColumnElement[bool]:
    """A range per granted subtree plus the exact prefix test; nothing without grants."""
    if not params:
        return false()
    return or_(
        *(and_(column >= code, column < end, column.startswith(code)) for code, end in params)
    )


def _entry(
    access: Access,
    direction: Direction,
    operation: str,
    object_refs: dict[str, Any],
    count: int,
    result: str,
) -> dict[str, Any]:
    return {
        "direction": direction,
        "counterpart": access.counterpart,
        "actor_subject": actor_name(access.principal.subject),
        "actor_role": access.principal.role.value,
        "purpose": access.purpose,
        "operation": operation,
        "object_refs": object_refs,
        "record_count": count,
        "result": result,
        "correlation_id": access.correlation_id,
    }


__all__ = ["GRPC", "REST", "Access", "Policy", "actor_name", "durable", "sees_everything"]
