"""The balance every reliability test ends with: what the source holds against what the hub has.

``expected`` is the ground truth, taken from the simulator (never from the hub): every record
the source holds, as ``(stream, source key)``. The store is then read directly:

- ``stored``: expected records present in ``source_record``;
- ``quarantined``: expected records not stored but held in an open quarantine entry;
- ``lost``: expected records that are neither (must be 0);
- ``duplicated``: more than one row for one record, more than one open quarantine entry
  for one record, a record both stored and still quarantined, or a version > 1 for a
  record the source never changed — each a record taken in twice (must be 0);
- ``unexpected``: stored records the source never held (must be 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Quarantine, QuarantineStatus, SourceRecord

Key = tuple[str, str]  # (stream, source key)


@dataclass(frozen=True, slots=True)
class Accounting:
    label: str
    expected: int
    stored: int
    quarantined: int
    lost: int
    duplicated: int
    unexpected: int

    def line(self) -> str:
        return (
            f"accounting [{self.label}]: expected {self.expected}, stored {self.stored}, "
            f"quarantined {self.quarantined}, lost {self.lost}, duplicated {self.duplicated}, "
            f"unexpected {self.unexpected}"
        )

    def assert_balanced(self) -> None:
        assert self.lost == 0, self.line()
        assert self.duplicated == 0, self.line()
        assert self.unexpected == 0, self.line()
        assert self.expected == self.stored + self.quarantined, self.line()


def tally(label: str, expected: Iterable[object], got: Iterable[object]) -> Accounting:
    """The same balance for things that are not source records (readings, device events):
    ``got`` lists what the hub holds, one item per row, so a repeat is a duplicate."""
    truth = set(expected)
    counts = Counter(got)
    result = Accounting(
        label=label,
        expected=len(truth),
        stored=len(truth & set(counts)),
        quarantined=0,
        lost=len(truth - set(counts)),
        duplicated=sum(n - 1 for n in counts.values()),
        unexpected=len(set(counts) - truth),
    )
    print(result.line())
    return result


def account(
    sessions: sessionmaker[Session],
    source: str,
    expected: Iterable[Key],
    *,
    label: str | None = None,
    changed: Iterable[Key] = (),
) -> Accounting:
    """Balance ``source`` in the store against ``expected``; prints the line and returns it.

    ``changed`` names records the source really changed during the test: a version > 1 is
    right for them and a duplicate for every other record.
    """
    truth = set(expected)
    allowed_versions = set(changed)
    with sessions() as s:
        rows = s.execute(
            select(SourceRecord.stream, SourceRecord.source_key, SourceRecord.version).where(
                SourceRecord.source == source
            )
        ).all()
        held = s.execute(
            select(Quarantine.stream, Quarantine.source_key).where(
                Quarantine.source == source, Quarantine.status == QuarantineStatus.OPEN
            )
        ).all()
    row_count = Counter((stream, key) for stream, key, _ in rows)
    held_count = Counter((stream, key or "") for stream, key in held)
    stored_keys = set(row_count)
    held_keys = set(held_count)
    stored = truth & stored_keys
    quarantined = (truth & held_keys) - stored_keys
    duplicated = (
        sum(n - 1 for n in row_count.values())
        + sum(n - 1 for n in held_count.values())
        + len(stored_keys & held_keys)
        + sum(
            1
            for stream, key, version in rows
            if version > 1 and (stream, key) not in allowed_versions
        )
    )
    result = Accounting(
        label=label or source,
        expected=len(truth),
        stored=len(stored),
        quarantined=len(quarantined),
        lost=len(truth - stored_keys - held_keys),
        duplicated=duplicated,
        unexpected=len(stored_keys - truth),
    )
    print(result.line())
    return result
