"""Every benchmark the report runs, how to run it small and full, and the figures it reports.

A benchmark keeps its own many figures (CPU per record, profiles, memory curves); the report
shows the few that the capability issues set a target for, under the issue's own target and,
where the issue names one, beside its peer. A figure is found in the benchmark's output by
the name the benchmark gives it (a regular expression, since sizes are part of some names),
so renaming a figure in a benchmark breaks the registry test, not the report silently.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["throughput", "latency", "memory", "quality", "share"]
Pick = Literal["last", "max", "min"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Target:
    """``value OP bound``; with ``bound`` None the bound is the peer's value ("≥ Splink")."""

    op: str
    bound: float | None = None
    #: For a target that is not a number ("flat in the input size"): the benchmark's own
    #: verdict is taken, since only it knows the sizes it compared.
    text: str | None = None
    #: How to show a numeric target when its number alone would not read well.
    shown: str | None = None

    def __post_init__(self) -> None:
        if self.text is None and self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")

    def met(self, value: float | None, peer: float | None = None) -> bool | None:
        if self.text is not None or value is None:
            return None
        bound = peer if self.bound is None else self.bound
        if bound is None:
            return None
        return _OPS[self.op](value, bound)

    def describe(self, peer_name: str | None = None) -> str:
        if self.text is not None:
            return self.text
        if self.shown is not None:
            return self.shown
        if self.bound is None:
            return f"{self.op} {peer_name or 'peer'}"
        return f"{self.op} {self.bound:,g}"


@dataclass(frozen=True)
class Peer:
    """Where a peer's value for the same figure is: a key of the same row (``key``), or
    another row of the same benchmark (``match`` and ``where``) that has the same values
    as gridhub's row for the keys in ``same`` (the same data size, say)."""

    name: str
    key: str | None = None
    match: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    same: tuple[str, ...] = ()


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    kind: Kind
    match: str  # regular expression on the benchmark's own figure name
    target: Target | None = None
    peer: Peer | None = None
    #: Other keys the row must have, each a regular expression its value must match whole.
    where: tuple[tuple[str, str], ...] = ()
    pick: Pick = "last"  # rows come smallest size first: the last is the largest
    value_key: str = "value"
    #: Only rows that have a peer count (gridhub beside Splink at the largest size both ran).
    with_peer: bool = False


@dataclass(frozen=True)
class Benchmark:
    name: str
    issue: int
    summary: str
    figures: tuple[Figure, ...]
    #: ``python -m module`` with these arguments; None when ``call`` runs it instead.
    module: str | None = None
    quick: tuple[str, ...] = ()
    full: tuple[str, ...] = ()
    #: How the output is redirected: an ``--out`` flag, or the module's RESULTS constant.
    out: Literal["flag", "constant"] = "flag"
    #: ``module:function`` taking ``quick: bool`` and returning the results.
    call: str | None = None
    #: Where the figure rows are in the output: lists of rows under these key paths.
    rows_from: tuple[tuple[str, ...], ...] = (("figures",),)
    quick_timeout_s: float = 900
    #: A full run that takes longer is ended (its row says so) and the report goes on: a hang
    #: costs one row and this long, not the night. About three times ``full_estimate_s``.
    full_timeout_s: float = 3600
    #: Wall seconds of a full run on an idle 2-core machine: measured where it has been
    #: (bench/results/full-partial), else estimated from the benchmark's parts; for budgeting.
    full_estimate_s: float = 600
    needs: tuple[str, ...] = field(default=())


def _rate(
    name: str, match: str, unit: str, bound: float | None = None, peer: Peer | None = None
) -> Figure:
    target = None if bound is None else Target(">=", bound)
    return Figure(name, unit, "throughput", match, target, peer)


def _versus_splink(data: str, label: str, unit: str, kind: Kind, key: str, op: str) -> Figure:
    """A row of ``bench.resolution``: gridhub's value and Splink's side by side."""
    return Figure(
        f"{data.upper()} {label}",
        unit,
        kind,
        rf"^{key}$",
        Target(op),
        Peer("Splink 5", key="splink"),
        where=(("dataset", data),),
        value_key="gridhub",
    )


_STORE = (("benchmark", r"district [\d,]+"), ("tool", r"gridhub \(store.*"))
_SPLINK = (("tool", r"splink.*"),)
_SIZE = ("benchmark",)


def _below(name: str, unit: str, kind: Kind, match: str, bound: float) -> Figure:
    return Figure(name, unit, kind, match, Target("<", bound))


def _words(line: str) -> tuple[str, ...]:
    return tuple(line.split())


def _under_load(protocol: str) -> tuple[Figure, ...]:
    """A protocol's throughput, p50 and p99 while the sync runs (``bench.load``)."""
    return (
        _rate(
            f"{protocol} throughput during a sync",
            rf"^{protocol} throughput, load during a sync$",
            "requests/s",
        ),
        Figure(
            f"{protocol} p50 during a sync",
            "ms",
            "latency",
            rf"^{protocol} p50, load during a sync$",
        ),
        Figure(
            f"{protocol} p99 during a sync",
            "ms",
            "latency",
            rf"^{protocol} p99, load during a sync$",
        ),
    )


FLAT = Target("flat", text="flat in the input size")

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        name="engine",
        issue=3,
        summary="sync engine alone: in-memory stream into SQLite",
        full_timeout_s=600,
        full_estimate_s=15,
        module="bench.engine",
        quick=("--records", "5000"),
        full=("--records", "50000"),
        figures=(
            _rate("engine: insert into SQLite", r"^engine insert \[sqlite\]$", "records/s"),
            _rate("engine: unchanged records", r"^engine unchanged \[sqlite\]$", "records/s"),
            _rate("engine: update into SQLite", r"^engine update \[sqlite\]$", "records/s"),
        ),
    ),
    Benchmark(
        name="hukou",
        issue=3,
        summary="户籍 SOAP simulator → adapter → store",
        full_timeout_s=900,
        full_estimate_s=125,
        module="bench.adapters.hukou",
        quick=("--persons", "2000"),
        full=("--persons", "100000"),
        needs=("postgresql",),
        figures=(
            _rate("hukou SOAP sync into SQLite", r"^sync rate into SQLite$", "records/s", 5000),
            _rate(
                "hukou SOAP sync into PostgreSQL",
                r"^sync rate into PostgreSQL$",
                "records/s",
                5000,
            ),
            _rate(
                "hukou SOAP extraction (lxml decoding)",
                r"^extract rate, lxml decoder$",
                "records/s",
                peer=Peer("zeep objects", match=r"^extract rate, zeep decoder$"),
            ),
            _below(
                "hukou peak memory (PSS), SQLite",
                "MiB",
                "memory",
                r"^peak memory \(PSS\), SQLite$",
                500,
            ),
        ),
    ),
    Benchmark(
        name="civil_affairs",
        issue=3,
        summary="民政 ODBC source → adapter → store",
        full_timeout_s=900,
        full_estimate_s=120,
        module="bench.adapters.civil_affairs",
        quick=("--persons", "2000"),
        full=("--persons", "100000"),
        needs=("postgresql",),
        figures=(
            _rate(
                "civil affairs ODBC sync, SQLite → SQLite",
                r"^end-to-end sync rate, sqlite ODBC → sqlite store$",
                "records/s",
                20000,
            ),
            _rate(
                "civil affairs ODBC sync, PostgreSQL → PostgreSQL",
                r"^end-to-end sync rate, postgresql ODBC → postgresql store$",
                "records/s",
                20000,
            ),
            _below(
                "civil affairs peak RSS, SQLite → SQLite",
                "MiB",
                "memory",
                r"^peak RSS, sqlite ODBC → sqlite store$",
                500,
            ),
        ),
    ),
    Benchmark(
        name="hotline",
        issue=4,
        summary="12345 work orders: Tansu (Kafka) → adapter → SQLite",
        full_timeout_s=600,
        full_estimate_s=45,
        module="bench.adapters.hotline",
        quick=("--orders", "4000"),
        full=("--orders", "60000"),
        figures=(
            _rate(
                "hotline Kafka ingest into SQLite",
                r"^hotline ingest rate \(",
                "work orders/s",
                10000,
            ),
            Figure("hotline peak memory", "MiB", "memory", r"^peak (RSS|memory) of the sync", FLAT),
        ),
    ),
    Benchmark(
        name="health",
        issue=4,
        summary="FHIR R4 simulator → adapter → SQLite",
        full_timeout_s=600,
        full_estimate_s=45,
        module="bench.adapters.health",
        quick=("--patients", "400"),
        full=("--patients", "10000"),
        figures=(
            _rate(
                "health FHIR sync into SQLite",
                r"^sync rate into SQLite, 1 mapping worker$",
                "resources/s",
                2000,
            ),
            Figure("health memory growth with input", "MiB", "memory", r"^memory growth ", FLAT),
        ),
    ),
    Benchmark(
        name="utility",
        issue=4,
        summary="meter files (GB18030 CSV, XML) → adapter → SQLite",
        full_timeout_s=600,
        full_estimate_s=65,
        module="bench.adapters.utility",
        quick=("--households", "1000", "--days", "2", "--small-days", "1"),
        full=("--households", "20000", "--days", "8"),
        figures=(
            _rate(
                "utility backlog rows parsed and stored",
                r"^backlog: rows parsed and stored$",
                "rows/s",
                100000,
            ),
            Figure("utility memory growth with input", "MiB", "memory", r"^memory growth ", FLAT),
        ),
    ),
    Benchmark(
        name="resolution",
        issue=5,
        summary="gridhub vs Splink 5: FEBRL3, FEBRL4, synthetic district",
        full_timeout_s=5400,
        full_estimate_s=2700,
        call="bench.report.calls:resolution",
        quick_timeout_s=1200,
        rows_from=(("febrl", "figures"), ("figures",)),
        figures=(
            *(
                _versus_splink(data, *measure)
                for data in ("febrl3", "febrl4")
                for measure in (
                    ("pairwise F1", "ratio", "quality", "pairwise_f1", ">="),
                    ("wall time", "s", "latency", "wall_time", "<="),
                )
            ),
            Figure(
                "district B-cubed F1 (resolvable), beside Splink",
                "ratio",
                "quality",
                r"^bcubed_f1_resolvable$",
                Target(">="),
                Peer("Splink 5", match=r"^bcubed_f1_resolvable$", where=_SPLINK, same=_SIZE),
                where=_STORE,
                with_peer=True,
            ),
            Figure(
                "district B-cubed F1 (resolvable), largest size",
                "ratio",
                "quality",
                r"^bcubed_f1_resolvable$",
                Target(">=", 0.99),
                where=_STORE,
            ),
            Figure(
                "district full resolve, largest size",
                "s",
                "latency",
                r"^seconds$",
                Target("<", 900),
                where=_STORE,
            ),
            Figure(
                "district full resolve peak RSS",
                "MiB",
                "memory",
                r"^peak_rss_mb$",
                Target("<", 8192),
                where=_STORE,
            ),
            Figure(
                "incremental: one record placed, p99",
                "ms",
                "latency",
                r"^placement_p99_ms$",
                Target("<", 20),
                where=(("benchmark", r"district [\d,]+ incremental"),),
            ),
        ),
    ),
    Benchmark(
        name="workflow",
        issue=6,
        summary="event → task, lifecycle, measures (SQLite)",
        full_timeout_s=2400,
        full_estimate_s=600,
        module="bench.workflow",
        quick=("--events", "200", "--tasks", "20000"),
        full=("--events", "2000", "--tasks", "1000000"),
        figures=(
            _below(
                "event → task assigned, p99", "ms", "latency", r"^event → task assigned, p99$", 200
            ),
            Figure(
                "task intake",
                "tasks/s",
                "throughput",
                r"^intake throughput$",
                Target(">=", 100_000 / 86_400, shown=">= 1.16 (100,000 a day)"),
            ),
            Figure(
                "slowest measure over all tasks",
                "s",
                "latency",
                r"^measures: ",
                Target("<", 1),
                pick="max",
            ),
        ),
    ),
    Benchmark(
        name="api",
        issue=7,
        summary="REST and gRPC on PostgreSQL, load from a second process",
        full_timeout_s=3600,
        full_estimate_s=720,
        module="bench.api",
        quick=("--persons", "5000", "--duration", "8", "--overhead-rounds", "1"),
        full=("--persons", "1000000"),
        out="constant",
        needs=("postgresql",),
        figures=(
            _below(
                "REST GET person p99 (8 clients)",
                "ms",
                "latency",
                r"^GET /api/v1/persons/\{uid\} p99",
                20,
            ),
            _rate(
                "REST GET person (32 clients)",
                r"^GET /api/v1/persons/\{uid\} throughput",
                "requests/s",
                1000,
            ),
            _below(
                "REST search p99 (8 clients)",
                "ms",
                "latency",
                r"^GET /api/v1/persons\?q= \(search\) p99",
                50,
            ),
            _rate("gRPC GetPerson (32 calls)", r"^gRPC GetPerson throughput", "requests/s", 2000),
            Figure(
                "exchange logging's share of API p50",
                "%",
                "share",
                r"^exchange logging: added p50 latency",
                Target("<=", 5),
            ),
        ),
    ),
    Benchmark(
        name="audit",
        issue=8,
        summary="exchange log: appends and verification",
        full_timeout_s=2400,
        full_estimate_s=600,
        module="bench.audit",
        quick=("--entries", "20000", "--append-entries", "2000"),
        full=("--entries", "1000000"),
        out="constant",
        needs=("postgresql",),
        figures=(
            _rate(
                "audit append_many, SQLite",
                r"^append_many.*\[sqlite\]$",
                "entries/s",
                5000,
            ),
            _rate(
                "audit append_many, PostgreSQL",
                r"^append_many.*\[postgresql\]$",
                "entries/s",
                5000,
            ),
            _below("audit verify, SQLite", "s", "latency", r"^verify .* \[sqlite\]$", 60),
            _below("audit verify, PostgreSQL", "s", "latency", r"^verify .* \[postgresql\]$", 60),
        ),
    ),
    Benchmark(
        name="device_bridge",
        issue=9,
        summary="OPC UA gateways → bridge → events → tasks",
        full_timeout_s=900,
        full_estimate_s=180,
        module="bench.device_bridge",
        quick=_words("--devices 200 --persons 400 --gateways 1 --rate 20 --duration 6 --alarms 5"),
        full=(),
        figures=(
            _below(
                "alarm → task assigned, p99",
                "ms",
                "latency",
                r"^alarm on gateway → task assigned, p99$",
                500,
            ),
            Figure(
                "device readings handled",
                "readings/s",
                "throughput",
                r"^readings handled by the bridge$",
                Target("≥", text="≥ the changes offered"),
            ),
            _below(
                "bridge CPU of one core",
                "%",
                "share",
                r"^bridge CPU \(pinned to one core\), mean$",
                100,
            ),
        ),
    ),
    Benchmark(
        name="load",
        issue=11,
        summary="REST + gRPC at a fixed rate (open loop) while a 户籍 sync writes into the store",
        full_timeout_s=1200,
        full_estimate_s=300,
        module="bench.load",
        quick=_words(
            "--persons 5000 --sync-persons 3000 --rest-rate 20 --grpc-rate 20 --load-alone 4"
        ),
        full=_words("--persons 100000 --sync-persons 50000 --rest-rate 100 --grpc-rate 100"),
        needs=("postgresql",),
        figures=(
            *_under_load("REST"),
            *_under_load("gRPC"),
            Figure(
                "requests failed during a sync (REST + gRPC)",
                "requests",
                "quality",
                r"^errors, load during a sync$",
                Target("<=", 0, shown="0 at the target rate"),
            ),
            _rate(
                "hukou sync into PostgreSQL, no API load",
                r"^hukou sync rate into PostgreSQL, alone$",
                "records/s",
            ),
            _rate(
                "hukou sync into PostgreSQL, under API load",
                r"^hukou sync rate into PostgreSQL, under load$",
                "records/s",
            ),
        ),
    ),
)


def names() -> list[str]:
    return [b.name for b in BENCHMARKS]


def get(name: str) -> Benchmark:
    for bench in BENCHMARKS:
        if bench.name == name:
            return bench
    raise KeyError(f"no benchmark named {name!r}; known: {', '.join(names())}")


def select(only: list[str] | None) -> list[Benchmark]:
    """The benchmarks named in ``only`` (all when empty), in registry order."""
    if not only:
        return list(BENCHMARKS)
    unknown = [n for n in only if n not in names()]
    if unknown:
        raise KeyError(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(names())}")
    return [b for b in BENCHMARKS if b.name in only]
