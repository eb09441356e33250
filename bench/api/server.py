"""The servers under test, started as their own processes by ``bench.api``.

They are built and run exactly as ``gridhub serve`` builds and runs them (settings and
serving knobs from ``GRIDHUB_*``; uvicorn through :func:`gridhub.cli.serve.run_api`, the
start-up heap frozen as there), with benchmark-only switches the CLI does not have, to
measure what logging costs: ``GRIDHUB_BENCH_LOG_READS=0`` starts a server with the read log
off; ``GRIDHUB_BENCH_LOG_SWITCH=1`` lets one REST server be switched between the two while it
runs (``SIGUSR1``: reads no longer logged, ``SIGUSR2``: logged again), so both sides of the
comparison are the same process. Nothing else differs.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the hub is imported by the processes that serve, not by uvicorn's parent
    from fastapi import FastAPI


def _log_reads() -> bool:
    return os.environ.get("GRIDHUB_BENCH_LOG_READS", "1") != "0"


def make_app() -> FastAPI:
    """uvicorn factory: one app per worker process."""
    from api import create_app
    from gridhub.cli.serve import api_config, settle_heap
    from gridhub.settings import Settings

    made = create_app(Settings(), api_config(), log_reads=_log_reads())
    if os.environ.get("GRIDHUB_BENCH_LOG_SWITCH") == "1":
        _switch_on_signals(made.state.hub.policy)
    settle_heap()
    return made


def _switch_on_signals(policy: Any) -> None:
    """``SIGUSR1`` stops logging reads and ``SIGUSR2`` resumes it, in this very process.

    What the switch changes is exactly what ``GRIDHUB_BENCH_LOG_READS=0`` changes: whether
    ``Policy.record_read`` queues an entry (the read path does not look at the flag, and the
    read log's flusher stays, idle, while it is off)."""

    def switch(on: bool) -> Callable[..., None]:
        def handler(*_: Any) -> None:
            policy.log_reads = on

        return handler

    signal.signal(signal.SIGUSR1, switch(False))
    signal.signal(signal.SIGUSR2, switch(True))


def serve_grpc(port: int, threads: int, reuse_port: bool, own_port: int | None = None) -> None:
    from api import Hub
    from gridhub.cli.serve import api_config, settle_heap
    from gridhub.settings import Settings
    from grpc_api import build_server

    hub = Hub.from_settings(Settings(), api_config(), log_reads=_log_reads())
    settle_heap()  # as `gridhub serve grpc` does: no full-collection pauses over start-up objects
    also = () if own_port is None else (f"127.0.0.1:{own_port}",)
    running = build_server(
        hub, f"127.0.0.1:{port}", max_workers=threads, reuse_port=reuse_port, also=also
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    running.stop(0)


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.api.server --port N [--http --workers N | --threads N --reuse-port
    [--own-port M]]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument("--own-port", type=int, help="gRPC: a port of this process's own too")
    parser.add_argument("--http", action="store_true", help="the REST API instead of gRPC")
    parser.add_argument("--workers", type=int, default=1, help="REST worker processes")
    args = parser.parse_args(argv)
    if args.http:
        from gridhub.cli.serve import run_api

        run_api("bench.api.server:make_app", host="127.0.0.1", port=args.port,
                workers=args.workers, log_level="warning")  # fmt: skip
    else:
        serve_grpc(args.port, args.threads, args.reuse_port, args.own_port)


if __name__ == "__main__":
    main()
