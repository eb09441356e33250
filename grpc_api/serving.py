"""Serving until told to stop, from one process or from N sharing one port (SO_REUSEPORT).

Why N processes: a Python gRPC server runs its handlers under one GIL, so one process uses
about one core however many threads it has. ``--workers N`` starts N independent servers,
each with its own hub (engine, pool, read log, token cache), all bound to the same port with
``SO_REUSEPORT``; the kernel spreads incoming connections over them. Each worker is a fresh
interpreter (``spawn``): nothing — no connection, no lock, no thread — is inherited from the
parent, which only supervises: it forwards SIGINT/SIGTERM and stops the group when a worker
dies, so a half-dead group never keeps the port.

Why each worker may also have a port of its own (``worker_port_base``): the kernel spreads
*connections*, by a hash, and a gRPC client multiplexes all its calls over one connection.
With a few busy clients the shares come out uneven — measured with 8 connections over two
workers: 479 and 16 CPU ticks in the same 5 s, one worker saturated while the other idled,
and a quarter less throughput than an even split. A client that balances calls itself
(gRPC's ``round_robin`` policy over the workers' own addresses) spreads them evenly.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.context import Hub
from grpc_api.server import TlsFiles, build_server

log = logging.getLogger("gridhub.grpc")
HubFactory = Callable[[], Hub]


@dataclass(frozen=True, slots=True)
class ServeSpec:
    """Where and how to serve; picklable, so a worker process can be handed it."""

    address: str
    threads: int = 8
    tls: TlsFiles | None = None
    workers: int = 1
    grace: float = 5.0
    #: Worker ``n`` (from 0) also listens on this port + ``n``, on the same host.
    worker_port_base: int | None = None

    def check(self) -> None:
        """ValueError for ports that cannot work, before anything starts."""
        port = int(self.address.rsplit(":", 1)[-1])
        if self.workers > 1 and port == 0:
            raise ValueError("--workers needs a fixed port: the workers must share it")
        base = self.worker_port_base
        if base is not None and (
            base < 1 or base + self.workers - 1 > 65535 or base <= port < base + self.workers
        ):
            raise ValueError("the workers' own ports must be 1-65535 and not the shared port")

    def own_address(self, index: int) -> str | None:
        """Worker ``index``'s own address, or None when workers have none."""
        if self.worker_port_base is None:
            return None
        host = self.address.rsplit(":", 1)[0]
        return f"{host}:{self.worker_port_base + index}"


def serve(spec: ServeSpec, make_hub: HubFactory, on_ready: Callable[[int], None]) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status. ``make_hub`` must be importable
    (a module-level function) when ``workers > 1``: each worker builds its own hub."""
    spec.check()
    if spec.workers <= 1:
        _serve_one(spec, make_hub, on_ready, reuse_port=False, index=0)
        return 0
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    workers = [
        context.Process(
            target=_worker, args=(spec, make_hub, ready, n), name=f"gridhub-grpc-{n}", daemon=False
        )
        for n in range(spec.workers)
    ]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    for worker in workers:
        worker.start()
    port = 0
    for _ in workers:
        try:
            port = ready.get(timeout=120)
        except queue.Empty:
            port = 0
        if port == 0:  # a worker failed to start (its error is on stderr)
            stop.set()
            break
    else:
        on_ready(port)
    status = 0
    while not stop.wait(0.5):
        if any(not w.is_alive() for w in workers):
            log.error("a gRPC worker exited; stopping the group")
            status = 1
            break
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            worker.terminate()  # SIGTERM: the worker stops serving and flushes its read log
    for worker in workers:
        worker.join(spec.grace + 30)
        if worker.is_alive():
            worker.kill()
            status = 1
    return status if port else 1


def _worker(spec: ServeSpec, make_hub: HubFactory, ready: Any, index: int) -> None:
    try:
        _serve_one(spec, make_hub, ready.put, reuse_port=True, index=index)
    except BaseException:
        ready.put(0)
        raise


def _serve_one(
    spec: ServeSpec,
    make_hub: HubFactory,
    on_ready: Callable[[int], None],
    *,
    reuse_port: bool,
    index: int,
) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    hub = make_hub()
    own = spec.own_address(index)
    running = build_server(
        hub,
        spec.address,
        tls=spec.tls,
        max_workers=spec.threads,
        reuse_port=reuse_port,
        also=() if own is None else (own,),
    )
    on_ready(running.port)
    stop.wait()
    running.stop(grace=spec.grace)  # then commits the read entries the calls queued
    hub.close()


__all__ = ["HubFactory", "ServeSpec", "serve"]
