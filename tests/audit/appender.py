"""A child process that appends to the exchange log: ``python -m tests.audit.appender URL N TAG``.

Used by the concurrency and crash tests; prints ``committed <count>`` after each transaction so
the parent knows how far it got before killing it.
"""

from __future__ import annotations

import sys

from audit import append
from canonical_model.store import make_engine, session_factory


def main(url: str, count: int, tag: str, per_tx: int = 1) -> None:
    sessions = session_factory(make_engine(url))
    done = 0
    while done < count:
        with sessions() as s, s.begin():
            for _ in range(min(per_tx, count - done)):
                done += 1
                append(
                    s,
                    direction="inbound",
                    counterpart="hukou",
                    actor_subject=tag,
                    operation="sync.batch",
                    record_count=done,
                    correlation_id=f"{tag}-{done}",
                )
        print(f"committed {done}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
