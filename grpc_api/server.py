"""The gRPC server: the four services, standard health checking, reflection, TLS / mTLS.

Plain TCP is only for loopback development; give a certificate and key for TLS, and a client
CA to require client certificates (mutual TLS: the platform proves which system it is at the
transport, and its token says what it may do). Health (``grpc.health.v1``) follows the
store's readiness, checked in the background, so a load balancer stops sending calls to an
instance that cannot reach the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from api.context import Hub
from grpc_api.gen.gridhub.v1 import event_pb2, ingest_pb2, person_pb2, task_pb2
from grpc_api.handlers import Dispatcher
from grpc_api.ingest import IngestService
from grpc_api.rpc import grpc
from grpc_api.services import EventService, PersonService, TaskService

log = logging.getLogger("gridhub.grpc")
SERVICES = (
    (person_pb2.DESCRIPTOR.services_by_name["PersonService"], PersonService),
    (event_pb2.DESCRIPTOR.services_by_name["EventService"], EventService),
    (task_pb2.DESCRIPTOR.services_by_name["TaskService"], TaskService),
    (ingest_pb2.DESCRIPTOR.services_by_name["IngestService"], IngestService),
)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: Stream threads beyond the slots: a stream over the limit needs one to be refused on.
REFUSAL_THREADS = 2


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM files: the server's certificate chain and key; a client CA turns on mutual TLS."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> Any:
        root = self.client_ca.read_bytes() if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=root,
            require_client_auth=root is not None,
        )


@dataclass(slots=True)
class RunningServer:
    server: Any
    port: int
    health: health.HealthServicer
    _stop: threading.Event
    hub: Hub | None = None
    services: tuple[object, ...] = ()
    pools: tuple[futures.ThreadPoolExecutor, ...] = ()

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving, then commit the read entries the calls queued (nothing lost) and
        hand back the connections services hold between calls."""
        self._stop.set()
        self.server.stop(grace).wait()
        for service in self.services:
            close = getattr(service, "close", None)
            if close is not None:
                close()
        if self.hub is not None:
            self.hub.flush_reads()
        for pool in self.pools:  # every handler has returned: grpcio does not close them
            pool.shutdown(wait=False)


def build_server(
    hub: Hub,
    address: str = "127.0.0.1:50051",
    *,
    tls: TlsFiles | None = None,
    max_workers: int = 32,
    health_interval: float = 10.0,
    reuse_port: bool = False,
    also: Sequence[str] = (),
) -> RunningServer:
    """Create, bind and start the server; ``address`` port 0 picks a free port.

    ``max_workers``: handler threads for unary calls; streams have a pool of their own.
    ``reuse_port`` lets several processes share one port (SO_REUSEPORT), the way to use more
    than one core from Python; off by default so a second server cannot bind by mistake.
    ``also``: more addresses to serve on, with the same credentials (a worker's own port,
    :mod:`grpc_api.serving`); the returned port is ``address``'s.
    """
    # Unary calls run on ``max_workers`` threads; our streams on a pool of their own with a
    # thread per slot (``Dispatcher``) and a few more to refuse the streams beyond them. One
    # pool of both let up to threads + slots unary calls run at once: with the database's
    # reads bounded (``ApiConfig.db_active_reads``) the extra threads only waited and switched,
    # measured ~0.1 ms more server CPU a GetPerson (16 calls in flight per process: 1,583 /
    # 2,103 / 1,675 calls/s on one pool of 24 against 2,066 / 2,126 / 1,789 on 8 + 1 slot).
    # Health's Watch and reflection are grpcio's handlers: they run on the unary threads.
    unary = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc")
    streams = futures.ThreadPoolExecutor(
        max_workers=hub.config.grpc_streams + REFUSAL_THREADS, thread_name_prefix="grpc-stream"
    )
    server = grpc.server(
        unary,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
    )
    dispatcher = Dispatcher(hub, stream_pool=streams)
    names = []
    services = []
    for descriptor, implementation in SERVICES:
        service = implementation(hub)
        dispatcher.register(server, descriptor, service)
        names.append(descriptor.full_name)
        services.append(service)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    credentials = None if tls is None else tls.credentials()

    def bind(where: str) -> int:
        if credentials is None:
            bound = int(server.add_insecure_port(where))
        else:
            bound = int(server.add_secure_port(where, credentials))
        if bound == 0:
            raise OSError(f"could not bind {where}")
        return bound

    port = bind(address)
    for where in also:
        bind(where)
    stop = threading.Event()
    _watch_health(hub, checker, names, stop, health_interval)
    server.start()
    return RunningServer(server, port, checker, stop, hub, tuple(services), (unary, streams))


def _watch_health(
    hub: Hub,
    checker: health.HealthServicer,
    names: list[str],
    stop: threading.Event,
    interval: float,
) -> None:
    def update() -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if hub.ready()
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *names):
            checker.set(name, status)

    def loop() -> None:
        while not stop.wait(interval):
            update()

    update()
    threading.Thread(target=loop, name="grpc-health", daemon=True).start()


__all__ = ["SERVICES", "RunningServer", "TlsFiles", "build_server"]
