"""What the demo did, read back from the canonical store, and the commands to try next.

Counts only, and uids: no name, ID number, phone or address is printed. The resolution is
scored against the district's truth (``truth.json``: which source record belongs to which
resident) with pairwise precision, recall and F1 over the resolved records.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select

from canonical_model import Event, Outbox, Person, Quarantine, SourceRecord, Task
from canonical_model.resolution_state import MatchReview, PersonMergeLog
from canonical_model.roster import GridWorker
from canonical_model.store import make_engine, session_factory
from canonical_model.utility import UtilityReading

__all__ = ["collect", "dumps", "pairwise_scores", "render", "source_counts", "truth_key"]


def source_counts(database_url: str) -> dict[str, int]:
    """Records stored plus quarantined, per source (what a running sync has taken in)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            counts: Counter[str] = Counter()
            for model in (SourceRecord, Quarantine):
                rows = conn.execute(select(model.source, func.count()).group_by(model.source))
                counts.update({source: int(n) for source, n in rows})
            return dict(counts)
    finally:
        engine.dispose()


def truth_key(source: str, stream: str, source_key: str) -> str:
    """How ``truth.json`` names a stored record of ``source``."""
    if source == "health" and "/" not in source_key:
        return f"Patient/{source_key}" if stream == "patients" else source_key
    return source_key.strip()


def _pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def pairwise_scores(assigned: Iterable[tuple[object, str]]) -> dict[str, float | int]:
    """Pairwise precision, recall and F1 of (predicted cluster, true entity) per record.

    A pair of records is predicted when both sit in one person, true when both belong to
    one resident. Only records that have a truth and a person take part.
    """
    rows = list(assigned)
    predicted = _pairs(Counter(p for p, _ in rows).values())
    true = _pairs(Counter(t for _, t in rows).values())
    both = _pairs(Counter(rows).values())
    precision = both / predicted if predicted else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "records": len(rows),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true_pairs": true,
        "predicted_pairs": predicted,
    }


def collect(database_url: str, truth: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Everything the summary shows, from the store."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as s:
            synced = dict(
                s.execute(
                    select(SourceRecord.source, func.count()).group_by(SourceRecord.source)
                ).all()
            )
            quarantined = dict(
                s.execute(select(Quarantine.source, func.count()).group_by(Quarantine.source)).all()
            )
            linked = s.execute(
                select(
                    SourceRecord.source,
                    SourceRecord.stream,
                    SourceRecord.source_key,
                    SourceRecord.person_id,
                ).where(SourceRecord.person_id.is_not(None))
            ).all()
            scored = [
                (person, truth[source][key])
                for source, stream, raw_key, person in linked
                if source in truth
                and (key := truth_key(source, stream, raw_key or "")) in truth[source]
            ]
            out: dict[str, Any] = {
                "sources": {
                    source: {
                        "synced": int(synced.get(source, 0)),
                        "quarantined": int(quarantined.get(source, 0)),
                    }
                    for source in sorted(set(synced) | set(quarantined) | set(truth))
                },
                "persons": int(s.scalar(select(func.count()).select_from(Person)) or 0),
                "records_linked": len(linked),
                "merged_records": len(linked) - len({p for *_, p in linked}),
                "merge_log": int(s.scalar(select(func.count()).select_from(PersonMergeLog)) or 0),
                "review_open": int(
                    s.scalar(
                        select(func.count())
                        .select_from(MatchReview)
                        .where(MatchReview.status == "open")
                    )
                    or 0
                ),
                "resolution_vs_truth": pairwise_scores(scored),
                "events": int(s.scalar(select(func.count()).select_from(Event)) or 0),
                "tasks": {
                    str(state): int(n)
                    for state, n in s.execute(
                        select(Task.state, func.count()).group_by(Task.state)
                    ).all()
                },
                "hotline_tasks": {
                    str(state): int(n)
                    for state, n in s.execute(
                        select(Task.state, func.count())
                        .where(Task.requester_source == "hotline")
                        .group_by(Task.state)
                    ).all()
                },
                "writebacks": {
                    f"{dest}:{state}": int(n)
                    for dest, state, n in s.execute(
                        select(Outbox.destination, Outbox.state, func.count()).group_by(
                            Outbox.destination, Outbox.state
                        )
                    ).all()
                },
            }
            out["utility_readings"] = int(
                s.scalar(select(func.count()).select_from(UtilityReading)) or 0
            )
            out["showcase"] = _showcase(s)
            return out
    finally:
        engine.dispose()


def _showcase(s: Any) -> dict[str, str] | None:
    """The person with the most source records who lives in a grid with a worker on duty:
    opaque uid, grid code and worker code only (the token and the curl use them)."""
    rows = s.execute(
        select(Person.uid, Person.grid_code, func.count(SourceRecord.id).label("n"))
        .join(SourceRecord, SourceRecord.person_id == Person.id)
        .where(Person.grid_code.is_not(None))
        .group_by(Person.id, Person.uid, Person.grid_code)
        .order_by(func.count(SourceRecord.id).desc(), Person.id)
        .limit(20)
    ).all()
    for uid, grid, _n in rows:
        worker = s.scalar(
            select(GridWorker.code)
            .where(GridWorker.grid_code == grid, GridWorker.on_duty.is_(True))
            .order_by(GridWorker.code)
            .limit(1)
        )
        if worker:
            return {"uid": str(uid), "grid": str(grid), "worker": str(worker)}
    return None


def _fmt_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def render(summary: Mapping[str, Any]) -> str:
    """The summary as plain text lines (rich prints it; the test reads the JSON)."""
    lines = ["", "gridhub demo — summary"]
    lines.append(f"{'source':<16}{'synced':>10}{'quarantined':>13}")
    for source, row in summary["sources"].items():
        lines.append(f"{source:<16}{row['synced']:>10,}{row['quarantined']:>13,}")
    score = summary["resolution_vs_truth"]
    lines += [
        f"unified persons {summary['persons']:,} from {summary['records_linked']:,} records "
        f"({summary['merged_records']:,} records merged into an existing person; "
        f"{summary['merge_log']} person merges logged); "
        f"review queue {summary['review_open']:,} open",
        f"resolution against the ground truth: pairwise precision {score['precision']:.4f}, "
        f"recall {score['recall']:.4f}, F1 {score['f1']:.4f} over {score['records']:,} records",
        f"utility readings {summary.get('utility_readings', 0):,}",
        f"events {summary['events']:,}; tasks by state: {_fmt_counts(summary['tasks'])}",
        f"12345 tasks by state: {_fmt_counts(summary['hotline_tasks'])}",
        f"write-backs: {_fmt_counts(summary['writebacks'])}",
    ]
    audit = summary.get("audit")
    if audit:
        lines.append(
            f"exchange log: {'verified' if audit['ok'] else 'NOT VERIFIED'} — {audit['line']}"
        )
    serving = summary.get("serving_after_s")
    if serving is not None:
        lines.append(f"serving {serving:.0f} s after start")
    return "\n".join(lines)


def dumps(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, ensure_ascii=False, indent=1, default=str)
