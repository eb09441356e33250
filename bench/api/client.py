"""The load generator: a separate process, loopback only, bounded in requests and seconds.

``python -m bench.api.client plan.json`` reads a plan (mode, port, requests, concurrency,
duration, limits), runs it and prints one JSON object of figures. HTTP uses a minimal
HTTP/1.1 keep-alive client on asyncio streams: on a 2-core machine a full client library
would spend more CPU per request than the server under test and measure itself. gRPC uses
grpcio's asyncio client. Every response is checked (status 200 / OK); failures are counted,
never timed as successes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # never anything else: this is a benchmark, not a load test of a network


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[str, int] = {}
        # (started, seconds, request index): kept only when the plan asks for a trace, to
        # tell a stall of the whole server (many requests slow at one moment) from a slow
        # request (the same index slow whenever it is asked).
        self.trace: list[tuple[float, float, int]] | None = None

    def record(self, seconds: float, status: str, ok: bool, *, started: float = 0.0,
               index: int = -1) -> None:  # fmt: skip
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if ok:
            self.latencies.append(seconds)
        else:
            self.errors += 1
        if self.trace is not None:
            self.trace.append((started, seconds, index))


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _http_worker(
    port: int, plan: Any, deadline: float, budget: itertools.count, limit: int, stats: Stats
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for index, path, token in plan:
            if time.perf_counter() >= deadline or next(budget) >= limit:
                return
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12].decode()
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            stats.record(
                time.perf_counter() - started,
                status,
                status == "200",
                started=started,
                index=index,
            )
    finally:
        writer.close()


async def _grpc_worker(
    stub: Any, request_type: Any, plan: Any, deadline: float, budget: Any, limit: int, stats: Stats
) -> None:
    import grpc

    for _, uid, token in plan:
        if time.perf_counter() >= deadline or next(budget) >= limit:
            return
        started = time.perf_counter()
        try:
            await stub.GetPerson(
                request_type(uid=uid), metadata=(("authorization", f"Bearer {token}"),)
            )
            stats.record(time.perf_counter() - started, "OK", True)
        except grpc.RpcError as exc:
            stats.record(time.perf_counter() - started, str(exc.code()), False)


async def _run(plan: dict[str, Any]) -> Stats:
    requests = [(i, *r) for i, r in enumerate(plan["requests"])]
    concurrency = int(plan["concurrency"])
    limit = int(plan["max_requests"])
    stats = Stats()

    def streams() -> list[Any]:
        # each worker walks the list from its own offset, so workers do not move in lockstep
        return [
            itertools.islice(itertools.cycle(requests), i * 7919 % len(requests), None)
            for i in range(concurrency)
        ]

    if plan["mode"] != "http":
        # Imported before any clock starts: the stubs' package pulls in the whole hub, which
        # takes seconds on a busy machine (it used to eat the whole timed phase: 0 calls).
        from grpc_api.gen.gridhub.v1 import person_pb2, person_pb2_grpc

    async def phase(seconds: float, count_limit: int, target: Stats) -> None:
        deadline = time.perf_counter() + seconds
        budget = itertools.count()
        if plan["mode"] == "http":
            jobs = [
                _http_worker(plan["port"], s, deadline, budget, count_limit, target)
                for s in streams()
            ]
            await asyncio.gather(*jobs)
            return
        import grpc

        async with grpc.aio.insecure_channel(f"{HOST}:{plan['port']}") as channel:
            stub = person_pb2_grpc.PersonServiceStub(channel)
            jobs = [
                _grpc_worker(
                    stub, person_pb2.GetPersonRequest, s, deadline, budget, count_limit, target
                )
                for s in streams()
            ]
            await asyncio.gather(*jobs)

    if float(plan.get("warmup", 0)) > 0:
        await phase(float(plan["warmup"]), limit, Stats())
    if plan.get("trace"):
        stats.trace = []
    started = time.perf_counter()
    await phase(float(plan["duration"]), limit, stats)
    stats.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]
    return stats


def main(path: str) -> None:
    plan = json.loads(Path(path).read_text(encoding="utf-8"))
    if plan["mode"] == "http":  # grpc.aio needs the stock asyncio loop: under uvloop it hangs
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
    stats = asyncio.run(_run(plan))
    elapsed: float = stats.elapsed  # type: ignore[attr-defined]
    if stats.trace is not None:
        Path(plan["trace"]).write_text(json.dumps(stats.trace), encoding="utf-8")
    ok = stats.latencies
    print(
        json.dumps(
            {
                "requests": len(ok) + stats.errors,
                "errors": stats.errors,
                "statuses": stats.statuses,
                "seconds": round(elapsed, 3),
                "rps": round(len(ok) / elapsed, 1) if elapsed else 0.0,
                "p50_ms": round(_quantile(ok, 0.50) * 1000, 3),
                "p90_ms": round(_quantile(ok, 0.90) * 1000, 3),
                "p99_ms": round(_quantile(ok, 0.99) * 1000, 3),
                "mean_ms": round(statistics.fmean(ok) * 1000, 3) if ok else None,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
