"""The sync engine alone: records/s from an in-memory stream into the canonical store.

Adapters' end-to-end figures include their transport and mapping; this one isolates what
every adapter pays for storage (hashing, versioning, the checkpoint transaction).
``python -m bench.engine --records 50000 [--postgres]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.contract import Adapter, Extracted, Mapped, Stream
from adapters.engine import sync_stream
from canonical_model.store import make_engine, session_factory, upgrade

RESULTS = Path(__file__).resolve().parents[1] / "results" / "engine.json"


class MemoryStream(Stream):
    name = "people"
    primary_key = ("key",)
    cursor_field = "n"

    def __init__(self, n: int, variant: str = "") -> None:
        self.n = n
        self.variant = variant

    def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted]:
        for i in range(int(cursor.get("n", 0)), self.n):
            raw = {
                "key": f"k{i}",
                "name": f"居民{i}{self.variant}",
                "id": f"33010619{i % 100:02d}0101{i % 1000:03d}X",
                "address": f"杭州市西湖区文一西路{i % 500}号{i % 30}幢{i % 6}单元{i % 20}01室",
                "phone": f"138{i:08d}",
            }
            yield Extracted(raw=raw, cursor={"n": i + 1})

    def map(self, item: Extracted) -> Mapped:
        assert isinstance(item.raw, Mapping)
        canonical = {"name": item.raw["name"], "phone": item.raw["phone"], "tags": []}
        return Mapped(source_key=str(item.raw["key"]), payload=item.raw, canonical=canonical)


class MemoryAdapter(Adapter):
    name = "memory"

    def __init__(self, stream: MemoryStream) -> None:
        self._stream = stream

    def streams(self) -> Sequence[Stream]:
        return [self._stream]

    def check_connection(self) -> tuple[bool, str | None]:
        return True, None


def run(url: str, n: int, checkpoint: int) -> dict[str, tuple[float, float]]:
    """(records/s, records per CPU second of this process) for each pass.

    The machine is shared, so the wall-clock rate moves with its load; CPU time of the
    sync process (the store's work in PostgreSQL's own processes is not in it) is the
    figure to compare before and after a change.
    """
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    figures: dict[str, tuple[float, float]] = {}
    passes = (("insert", "", False), ("unchanged", "", True), ("update", "'", True))
    for label, variant, reset in passes:
        if reset:
            with engine.begin() as conn:
                conn.exec_driver_sql("UPDATE sync_state SET cursor = '{}'")
        t0, c0 = time.perf_counter(), time.process_time()
        report = sync_stream(
            MemoryAdapter(MemoryStream(n, variant)), "people", sessions, checkpoint_every=checkpoint
        )
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert report.received == n
        figures[label] = (n / elapsed, n / cpu)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--checkpoint", type=int, default=500)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}")]
        if args.postgres:
            from tests.support import postgres

            name = postgres.create_database()
            targets.append(("postgresql", postgres.url_for(name)))
        try:
            for backend, url in targets:
                for label, (rate, cpu_rate) in run(url, args.records, args.checkpoint).items():
                    results.append(
                        {
                            "figure": f"engine {label} [{backend}]",
                            "unit": "records/s",
                            "value": round(rate),
                            "cpu_rate": round(cpu_rate),
                            "cpu_us_per_record": round(1e6 / cpu_rate, 1),
                            "data_size": f"{args.records} records, checkpoint {args.checkpoint}",
                            "date": datetime.now(UTC).isoformat(timespec="seconds"),
                            "machine": {
                                "cpus": os.cpu_count(),
                                "python": platform.python_version(),
                                "load_average": os.getloadavg(),
                            },
                        }
                    )
        finally:
            if args.postgres:
                postgres.drop_database(name)
    out: Path = args.out
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(
        "| figure | records/s | records per CPU s | CPU µs/record |\n| --- | ---: | ---: | ---: |"
    )
    for r in results:
        print(f"| {r['figure']} | {r['value']:,} | {r['cpu_rate']:,} | {r['cpu_us_per_record']} |")


if __name__ == "__main__":
    main()
