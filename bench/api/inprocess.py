"""CPU per request of the REST app itself, without a network or a load generator.

``python -m bench.api.inprocess --db bench_api_1m [--kind get|search] [--requests 2000]
[--profile]`` builds the app exactly as the server does (settings from the environment this
module sets), drives it through raw ASGI calls on one event loop (a few concurrent requests),
and prints the process CPU and the PostgreSQL backends' CPU per request. On a shared machine
this is the figure that stays comparable between runs: wall-clock time is not printed as a
result. ``--profile`` prints the top of a cProfile of the timed phase.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api.dataset import sample
from bench.api.harness import PASSPHRASE, db_cpu_seconds, env_for, requests_for


async def _call(app: Any, path: str, token: str) -> int:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def _drive(app: Any, plan: list[tuple[str, str]], concurrency: int) -> dict[str, int]:
    statuses: dict[str, int] = {}
    queue = iter(plan)

    async def worker() -> None:
        for path, token in queue:
            code = str(await _call(app, path, token))
            statuses[code] = statuses.get(code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="a loaded database (bench.api --keep)")
    parser.add_argument("--kind", choices=("get", "search"), default="get")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-log", action="store_true", help="read log off (bench switch)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    from tests.support import postgres

    url = postgres.url_for(args.db)
    dsn = f"host={postgres.HOST} port={postgres.PORT} user={postgres.USER} dbname={args.db}"
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        os.environ.update(env_for(url, Path(tmp), log_reads=not args.no_log))
        import uvloop

        from bench.api.server import make_app
        from identity import KeyRing

        data = sample(dsn, 100, 30, random.Random(11))
        plans = requests_for(
            data, KeyRing(Path(tmp) / "keys", passphrase=PASSPHRASE), random.Random(3)
        )
        plan = plans[args.kind]
        app = make_app()
        loop = uvloop.new_event_loop()
        warm = (plan * 2)[: min(len(plan), 500)]
        print("warm-up", loop.run_until_complete(_drive(app, warm, args.concurrency)))
        timed = [plan[i % len(plan)] for i in range(args.requests)]
        profiler = cProfile.Profile() if args.profile else None
        db_before, cpu_before, wall = db_cpu_seconds(args.db), time.process_time(), time.time()
        if profiler:
            profiler.enable()
        statuses = loop.run_until_complete(_drive(app, timed, args.concurrency))
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu_before
        db = db_cpu_seconds(args.db) - db_before
        wall = time.time() - wall
        n = args.requests
        print(f"statuses {statuses}")
        print(
            f"{args.kind}: app CPU {cpu / n * 1000:.3f} ms/request, "
            f"DB CPU {db / n * 1000:.3f} ms/request "
            f"(load average {os.getloadavg()[0]:.2f}; wall {wall:.1f} s, not a result)"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())
        loop.run_until_complete(asyncio.sleep(0))
        app.state.hub.close()


if __name__ == "__main__":
    main()
