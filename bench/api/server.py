"""The servers under test, started as their own processes by ``bench.api``.

They are built exactly as ``gridhub serve`` builds them (settings from ``GRIDHUB_*``), with one
benchmark-only switch the CLI does not have: ``GRIDHUB_BENCH_LOG_READS=0`` turns the read
log off, to measure what logging costs. Nothing else differs.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from fastapi import FastAPI

from api import ApiConfig, Hub, create_app
from gridhub.settings import Settings


def _log_reads() -> bool:
    return os.environ.get("GRIDHUB_BENCH_LOG_READS", "1") != "0"


def make_app() -> FastAPI:
    """uvicorn factory: one app per worker process."""
    return create_app(Settings(), ApiConfig(), log_reads=_log_reads())


def serve_grpc(port: int, threads: int, reuse_port: bool) -> None:
    from grpc_api import build_server

    hub = Hub.from_settings(Settings(), ApiConfig(), log_reads=_log_reads())
    running = build_server(hub, f"127.0.0.1:{port}", max_workers=threads, reuse_port=reuse_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    running.stop(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    serve_grpc(args.port, args.threads, args.reuse_port)
