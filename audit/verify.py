"""Checking the chain and its signed checkpoints, in one streaming pass.

What is proven, and what is not: every entry's hash covers its content and its predecessor's
hash, so any change, removal, insertion or move *inside* the chain breaks it at the first
altered seq. An attacker who rewrites a whole suffix with recomputed hashes is caught by the
first signed checkpoint at or after the change. Entries after the newest checkpoint are only
chain-protected: a superuser could cut or rewrite that tail unnoticed, which is why
checkpoints should be taken often and copied off the machine (exports, archives, auditors).

Each finding names a seq and why. After a finding the verifier resynchronises on the stored
hash, so one modified entry yields one finding rather than a cascade.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.canonical import FIELDS, GENESIS, entry_hash_of
from audit.records import ENTRY_KEYS, iter_checkpoints, iter_rows
from audit.signing import CheckpointInvalid, KeySet, open_checkpoint
from canonical_model import ExchangeLogEntry

_SEQ: Final = FIELDS.index("seq")
_PREV: Final = FIELDS.index("prev_hash")
MOVE_WINDOW: Final = 1024
"""How far a mismatching entry is searched for its original seq (only on the failure path)."""


class Reason(enum.StrEnum):
    HASH_MISMATCH = "hash_mismatch"  # content differs from what entry_hash covers
    PREV_HASH_MISMATCH = "prev_hash_mismatch"  # link to the previous entry broken
    GAP = "gap"  # seq missing
    REORDERED = "reordered"  # entry moved: written at another seq, or out of order
    DUPLICATE = "duplicate"  # seq seen twice
    MALFORMED = "malformed"  # not an entry of this format
    CHECKPOINT_SIGNATURE = "checkpoint_signature_invalid"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # signed hash differs from the chain
    TRUNCATED = "truncated"  # a checkpoint signs entries that are gone
    UNSIGNED = "unsigned"  # entries no checkpoint covers (strict mode only)
    ANCHOR = "anchor_mismatch"  # slice / archive start does not link up
    ARCHIVE = "archive"  # archive file digest or link


@dataclass(frozen=True, slots=True)
class Finding:
    seq: int | None
    reason: Reason
    detail: str

    def __str__(self) -> str:
        where = "-" if self.seq is None else str(self.seq)
        return f"seq {where}: {self.reason.value}: {self.detail}"


@dataclass(slots=True)
class Report:
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0  # signatures that verified
    covered_through: int | None = None  # highest seq a valid checkpoint matched
    findings: list[Finding] = field(default_factory=list)
    capped: bool = False  # stopped after max_findings: there may be more

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The earliest problem in seq order (findings without a seq last)."""
        if not self.findings:
            return None
        return min(self.findings, key=lambda f: (f.seq is None, f.seq or 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "covered_through": self.covered_through,
            "capped": self.capped,
            "findings": [
                {"seq": f.seq, "reason": f.reason.value, "detail": f.detail} for f in self.findings
            ],
        }


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a slice starts: the seq and hash of the entry just before it."""

    seq: int
    entry_hash: str


class Verifier:
    """Feed entries in seq order, then :meth:`finish`. Use one per chain."""

    def __init__(
        self,
        keys: KeySet,
        checkpoints: Iterable[Mapping[str, Any]] = (),
        *,
        anchor: Anchor | None = None,
        require_signed: bool = False,
        max_findings: int = 100,
    ) -> None:
        self.report = Report()
        self.full = False  # max_findings reached: callers stop feeding
        self._keys = keys
        self._max = max_findings
        self._require_signed = require_signed
        self._expected = None if anchor is None else anchor.seq + 1
        self._prev = None if anchor is None else anchor.entry_hash
        self._signed: dict[int, set[str]] = {}
        self._seen: set[str] = set()
        self._link_break: tuple[int, Finding] | None = None  # last seq whose prev link broke
        self._missing: dict[int, Finding] = {}  # GAP findings that may turn out "reordered"
        self._clean = True  # no entry finding yet: checkpoints still extend the proven prefix
        for cp in checkpoints:
            self.add_checkpoint(cp)

    # -- checkpoints ------------------------------------------------------------------------

    def add_checkpoint(self, cp: Mapping[str, Any]) -> None:
        """Check one checkpoint's signature now; its hash is compared when its seq streams by."""
        jws = str(cp.get("jws", ""))
        if jws in self._seen:
            return  # the same statement from the table and from an archive
        self._seen.add(jws)
        seq = cp.get("seq")
        where = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        try:
            claims = open_checkpoint(jws, self._keys)
        except CheckpointInvalid as exc:
            self._add(Finding(where, Reason.CHECKPOINT_SIGNATURE, str(exc)))
            return
        if claims.seq != seq or claims.entry_hash != cp.get("entry_hash"):
            self._add(
                Finding(where, Reason.CHECKPOINT_MISMATCH, "stored columns differ from the JWS")
            )
        self.report.checkpoints += 1
        self._signed.setdefault(claims.seq, set()).add(claims.entry_hash)

    # -- entries ----------------------------------------------------------------------------

    def feed(self, entry: Mapping[str, Any]) -> None:
        """Check one entry record (FIELDS + entry_hash, ``at`` as text), e.g. from a file."""
        seq = entry.get("seq")
        if entry.keys() != ENTRY_KEYS or isinstance(seq, bool) or not isinstance(seq, int):
            self._malformed(seq, entry.get("entry_hash"))
            return
        values = [entry[name] for name in FIELDS]
        values.append(entry["entry_hash"])
        self.feed_values(values)

    def feed_values(self, values: list[Any]) -> None:
        """Check one entry given as FIELDS-ordered values plus entry_hash; consumes the list.

        Tight on purpose: it runs once per entry, a million times for a large log.
        """
        rep = self.report
        before = len(rep.findings)
        stored = values.pop()
        seq = values[_SEQ]
        if type(seq) is not int:
            self._malformed(seq, stored)
            return
        expected = self._expected
        if expected is None:  # first entry, no anchor: it anchors itself
            expected = seq
            self._prev = GENESIS if seq == 1 else values[_PREV]
        if rep.first_seq is None:
            rep.first_seq = seq
        rep.entries += 1
        if seq != expected:
            self._clean = False
            if not self._discontinuity(seq, expected):
                return  # a late, out-of-order entry: already reported, chain state kept
            prev_ok = True  # the link means nothing across a discontinuity
        else:
            prev_ok = values[_PREV] == self._prev
        if entry_hash_of(values) != stored:
            self._hash_mismatch(values, stored)
        elif not prev_ok:
            self._broken_link(seq)
        signed = self._signed.get(seq)
        if signed is not None:
            if signed != {stored}:
                self._add(
                    Finding(seq, Reason.CHECKPOINT_MISMATCH, "signed hash differs from the chain")
                )
            elif self._clean and len(rep.findings) == before:
                rep.covered_through = seq
        if len(rep.findings) != before:
            self._clean = False
        self._prev = stored
        self._expected = seq + 1
        rep.last_seq = seq

    def _broken_link(self, seq: int) -> None:
        """Entry ``seq`` does not chain to its predecessor: say which entry was rewritten.

        If ``seq`` is intact and names the *original* hash of ``seq - 1``, then ``seq - 1`` was
        rewritten with a recomputed hash. If the next link is broken too, ``seq`` itself was
        the one altered (prev_hash changed, hash recomputed) and the finding moves to it. A run
        of several entries rewritten consistently shows as its last entry here; a checkpoint
        inside the run names an earlier seq.
        """
        if self.report.entries == 1:
            why = "must chain to the genesis hash" if seq == 1 else "does not chain to the anchor"
            self._add(Finding(seq, Reason.ANCHOR, f"seq {seq} {why}"))
            return
        if self._link_break is not None and self._link_break[0] == seq - 1:
            earlier = self._link_break[1]
            if earlier in self.report.findings:
                self.report.findings.remove(earlier)
            finding = Finding(
                seq - 1,
                Reason.PREV_HASH_MISMATCH,
                f"entry {seq - 1} was altered: neither entry {seq - 2} nor {seq} chains to it",
            )
        else:
            finding = Finding(
                seq - 1,
                Reason.PREV_HASH_MISMATCH,
                f"entry {seq} no longer chains to entry {seq - 1}: "
                f"entry {seq - 1} was rewritten with a recomputed hash",
            )
        self._add(finding)
        self._link_break = (seq, finding)

    def _malformed(self, seq: Any, stored: Any) -> None:
        valid = isinstance(seq, int) and not isinstance(seq, bool)
        self._clean = False
        self._add(
            Finding(
                seq if valid else self._expected,
                Reason.MALFORMED,
                "unexpected or missing fields",
            )
        )
        if valid:  # keep the chain state moving so one bad line is one finding
            self.report.entries += 1
            self.report.last_seq = seq
            self._expected = seq + 1
            self._prev = stored if isinstance(stored, str) else None

    def _discontinuity(self, seq: int, expected: int) -> bool:
        """Report a seq that is not the expected one; False when the entry is to be skipped."""
        if seq > expected:
            gap = Finding(
                expected,
                Reason.GAP,
                f"seq {expected}" + (f"..{seq - 1}" if seq - 1 > expected else "") + " missing",
            )
            self._add(gap)
            for missing in range(expected, min(seq, expected + MOVE_WINDOW)):
                self._missing[missing] = gap
            return True
        if seq in self._missing:  # the missing entry turns up later: it was moved
            gap = self._missing.pop(seq)
            if gap in self.report.findings:
                self.report.findings.remove(gap)
            self._add(Finding(gap.seq, Reason.REORDERED, f"seq {seq} appears out of order"))
            return False
        self._add(Finding(seq, Reason.DUPLICATE, f"seq {seq} appears again after {expected - 1}"))
        return False

    def _hash_mismatch(self, values: list[Any], stored: str) -> None:
        """Modified, or moved? A moved entry still hashes right under the seq it was written at."""
        seq = values[_SEQ]
        for original in _nearby(seq):
            values[_SEQ] = original
            if entry_hash_of(values) == stored:
                self._add(
                    Finding(
                        min(seq, original),
                        Reason.REORDERED,
                        f"entry stored at seq {seq} was written as seq {original}",
                    )
                )
                return
        self._add(Finding(seq, Reason.HASH_MISMATCH, "content does not match entry_hash"))

    # -- end --------------------------------------------------------------------------------

    def finish(self) -> Report:
        rep = self.report
        last = rep.last_seq
        beyond = [s for s in self._signed if last is None or s > last]
        if beyond:
            self._add(
                Finding(
                    (last or 0) + 1,
                    Reason.TRUNCATED,
                    f"a checkpoint signs seq {max(beyond)} but the log ends at seq {last or 0}",
                )
            )
        # "Not signed" is the verdict when nothing else is wrong; after a real finding it would
        # only push the first bad entry out of view.
        if self._require_signed and last is not None and not rep.findings:
            covered = rep.covered_through
            if covered is None or covered < last:
                start = rep.first_seq if covered is None else covered + 1
                self._add(
                    Finding(
                        start,
                        Reason.UNSIGNED,
                        f"entries {start}..{last} are not covered by a signed checkpoint",
                    )
                )
        return rep

    def _add(self, finding: Finding) -> None:
        findings = self.report.findings
        if finding in findings:
            return
        if len(findings) >= self._max:
            self.report.capped = self.full = True
            return
        findings.append(finding)


def _nearby(seq: int) -> Iterable[int]:
    for delta in range(1, MOVE_WINDOW + 1):
        yield seq + delta
        if seq - delta >= 1:
            yield seq - delta


def run(verifier: Verifier, entries: Iterable[Mapping[str, Any]]) -> Report:
    """Feed entry records through ``verifier`` and finish, honouring ``max_findings``."""
    for entry in entries:
        verifier.feed(entry)
        if verifier.full:
            break
    return verifier.finish()


def run_rows(verifier: Verifier, rows: Iterable[list[Any]]) -> Report:
    """:func:`run` for :func:`audit.records.iter_rows` output (the fast path)."""
    feed = verifier.feed_values
    for row in rows:
        feed(row)
        if verifier.full:
            break
    return verifier.finish()


# -- sources -----------------------------------------------------------------------------------


def verify_store(
    session: Session,
    keys: KeySet,
    *,
    first_seq: int | None = None,
    last_seq: int | None = None,
    anchor: Anchor | None = None,
    extra_checkpoints: Iterable[Mapping[str, Any]] = (),
    require_signed: bool = False,
    max_findings: int = 100,
) -> Report:
    """Verify the live table (or a seq range of it) and every checkpoint in that range.

    When the table no longer starts at seq 1 (entries were archived), its first entry must
    chain to the signed checkpoint at the archive boundary — archiving only ever cuts there —
    so a deleted prefix shows as a gap from seq 1. :func:`audit.archive.verify_all` checks the
    archived entries themselves. ``extra_checkpoints`` are ones an auditor kept from earlier
    exports: they catch a rewritten or truncated tail even if the checkpoint rows were deleted.
    """
    cps = [*iter_checkpoints(session), *extra_checkpoints]
    floor = first_seq
    if first_seq is None and anchor is None:
        floor = session.scalar(select(func.min(ExchangeLogEntry.seq)))
        anchor = _boundary(cps, keys, floor)
    in_range = [
        cp
        for cp in cps
        if (floor is None or cp["seq"] >= floor) and (last_seq is None or cp["seq"] <= last_seq)
    ]
    verifier = Verifier(
        keys, in_range, anchor=anchor, require_signed=require_signed, max_findings=max_findings
    )
    return run_rows(verifier, iter_rows(session, first_seq, last_seq))


def _boundary(
    checkpoints: Iterable[Mapping[str, Any]], keys: KeySet, first_live: int | None
) -> Anchor:
    """The anchor of a live table starting at ``first_live``: genesis, or a signed boundary."""
    if first_live is None or first_live <= 1:
        return Anchor(0, GENESIS)
    for cp in checkpoints:
        if cp.get("seq") == first_live - 1:
            try:
                claims = open_checkpoint(str(cp.get("jws", "")), keys)
            except CheckpointInvalid:
                continue
            if claims.seq == first_live - 1:
                return Anchor(claims.seq, claims.entry_hash)
    return Anchor(0, GENESIS)  # nothing vouches for the missing prefix: report it as a gap
