"""``gridhub serve``: the REST API (uvicorn) and the gRPC server, for grid workers and platforms.

Both bind to loopback by default. The gRPC server refuses plain TCP on any other address
(bearer tokens would cross the network in clear) unless TLS files are given or
``--allow-insecure`` says a TLS-terminating proxy sits in front; the REST API is expected
behind such a proxy and only warns. uvicorn's access log is off: it writes raw paths with
their query strings, and a search string is often an ID number. The API logs its own access
lines (``gridhub.api.access``) with the route template instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api import ApiConfig, Hub

app = typer.Typer(
    help="Serve the REST API (grid workers, auditors) and gRPC (other platforms).",
    no_args_is_help=True,
)

DurableOption = Annotated[
    bool,
    typer.Option(
        "--durable-read-logs",
        help="PostgreSQL: wait for the WAL flush of every read's log entry (slower).",
        envvar="GRIDHUB_DURABLE_READ_LOGS",
    ),
]
TlsCert = Annotated[
    Path | None, typer.Option("--tls-cert", help="PEM certificate chain.", exists=True)
]
TlsKey = Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.", exists=True)]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Server processes. Default: one per CPU on PostgreSQL, one on SQLite (a file "
        "store serialises writers anyway).",
        envvar="GRIDHUB_SERVE_WORKERS",
    ),
]
"""Shared by the serving commands that can run several processes."""
DbReadsOption = Annotated[
    int | None,
    typer.Option(
        "--db-reads",
        min=1,
        max=1024,
        help="Plain reads (a person, a search, GetPerson) running on PostgreSQL at once per "
        "process; more wait their turn. Raise it with the database's cores. Default 2.",
        envvar="GRIDHUB_DB_ACTIVE_READS",
    ),
]


def default_workers(database_url: str) -> int:
    """One process per CPU against PostgreSQL (each has its own pool and read-log appender);
    one against SQLite, whose single writer the processes would only queue for."""
    import os

    if database_url.startswith("sqlite"):
        return 1
    return max(1, min(os.cpu_count() or 1, 16))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _configure_logging(level: str) -> None:
    """Root handler at the configured level, so the API's access and security lines appear
    (they carry route templates and refusal codes only, never personal data)."""
    import logging

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )


def api_config() -> ApiConfig:
    """The serving knobs the commands pass to their worker processes through the environment
    (each worker is a fresh interpreter that reads them here)."""
    import os

    from api import ApiConfig

    durable = os.environ.get("GRIDHUB_DURABLE_READ_LOGS", "").lower() in {"1", "true", "yes"}
    config = ApiConfig(durable_read_logs=durable)
    if reads := os.environ.get("GRIDHUB_DB_ACTIVE_READS"):
        config = replace(config, db_active_reads=int(reads))
    if streams := os.environ.get("GRIDHUB_GRPC_STREAMS"):
        config = replace(config, grpc_streams=int(streams))
    return config


def make_api() -> FastAPI:
    """uvicorn's factory (``--workers`` needs an import string): one app per worker process."""
    from api import create_app
    from gridhub.settings import get_settings

    _configure_logging(get_settings().log_level)
    made = create_app(get_settings(), api_config())
    settle_heap()
    return made


@app.command("api")
def api(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: WorkersOption = None,
    durable_read_logs: DurableOption = False,
    db_reads: DbReadsOption = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the REST API with uvicorn (OpenAPI at /openapi.json, docs at /docs)."""
    import os

    from gridhub.settings import get_settings

    if workers is None:
        workers = default_workers(get_settings().effective_database_url)
    if not _is_loopback(host) and tls_cert is None:
        typer.echo("warning: serving plain HTTP beyond loopback; put TLS in front", err=True)
    if durable_read_logs:
        os.environ["GRIDHUB_DURABLE_READ_LOGS"] = "1"  # read by make_api in every worker
    if db_reads is not None:
        os.environ["GRIDHUB_DB_ACTIVE_READS"] = str(db_reads)  # likewise
    run_api(
        "gridhub.cli.serve:make_api",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )


def run_api(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """uvicorn as ``gridhub serve api`` runs it; the benchmark starts its server through here
    too, so what it measures is what is deployed."""
    import uvicorn

    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        loop="auto",  # uvloop and httptools when installed (they are in the lock)
        http="auto",
        access_log=False,  # raw paths carry search strings (ID numbers): gridhub.api.access
        server_header=False,
        proxy_headers=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


@app.command("grpc")
def grpc(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 50051,
    threads: Annotated[
        int, typer.Option("--threads", min=1, max=512, help="Handler threads per process.")
    ] = 8,
    workers: WorkersOption = None,
    worker_ports: Annotated[
        int | None,
        typer.Option(
            "--worker-ports",
            min=1,
            max=65535,
            metavar="BASE",
            help="Each worker also listens on a port of its own, BASE to BASE+N-1: for "
            "clients that balance calls themselves (gRPC round_robin over these addresses). "
            "The shared port spreads connections, not calls.",
        ),
    ] = None,
    streams: Annotated[
        int | None,
        typer.Option(
            "--streams",
            min=1,
            max=1024,
            help="Open streams (event subscriptions, record pushes) per process, each on a "
            "thread of its own beside --threads; one more is refused with RESOURCE_EXHAUSTED. "
            "Default 16.",
            envvar="GRIDHUB_GRPC_STREAMS",
        ),
    ] = None,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    client_ca: Annotated[
        Path | None,
        typer.Option(
            "--client-ca", help="Require client certificates from this CA (mTLS).", exists=True
        ),
    ] = None,
    allow_insecure: Annotated[
        bool, typer.Option("--allow-insecure", help="Plain TCP beyond loopback.")
    ] = False,
    durable_read_logs: DurableOption = False,
    db_reads: DbReadsOption = None,
) -> None:
    """Run the gRPC services (health checking and reflection included) until SIGINT/SIGTERM."""
    import os

    from gridhub.settings import get_settings
    from grpc_api import TlsFiles
    from grpc_api.serving import ServeSpec, serve

    if (tls_cert is None) != (tls_key is None):
        typer.echo("error: --tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    if client_ca is not None and tls_cert is None:
        typer.echo("error: --client-ca needs --tls-cert and --tls-key", err=True)
        raise typer.Exit(2)
    if tls_cert is None and not _is_loopback(host) and not allow_insecure:
        typer.echo("error: refusing plain TCP beyond loopback; give TLS files", err=True)
        raise typer.Exit(2)
    tls = TlsFiles(tls_cert, tls_key, client_ca) if tls_cert and tls_key else None
    settings = get_settings()
    _configure_logging(settings.log_level)
    if workers is None:
        workers = default_workers(settings.effective_database_url)
    if durable_read_logs:
        os.environ["GRIDHUB_DURABLE_READ_LOGS"] = "1"  # read by make_grpc_hub in each process
    if streams is not None:
        os.environ["GRIDHUB_GRPC_STREAMS"] = str(streams)  # likewise
    if db_reads is not None:
        os.environ["GRIDHUB_DB_ACTIVE_READS"] = str(db_reads)  # likewise
    mode = "mTLS" if client_ca else ("TLS" if tls else "plain")

    own = "" if worker_ports is None else f"; own ports {worker_ports}-{worker_ports + workers - 1}"

    def ready(bound: int) -> None:
        typer.echo(
            f"gRPC ({mode}) listening on {host}:{bound}, {workers} process(es){own}", err=True
        )

    spec = ServeSpec(
        f"{host}:{port}", threads=threads, tls=tls, workers=workers, worker_port_base=worker_ports
    )
    try:
        spec.check()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(serve(spec, make_grpc_hub, ready))


def make_grpc_hub() -> Hub:
    """One gRPC process's hub: each ``--workers`` process builds its own."""
    from api import Hub
    from gridhub.settings import get_settings

    hub = Hub.from_settings(get_settings(), api_config())
    settle_heap()
    return hub


def settle_heap() -> None:
    """Take what start-up built (modules, the hub, compiled tables) out of the cyclic
    collector's reach. A server process holds ~150k such objects; each full collection
    walked them all — an ~90 ms pause for every request in flight on that process, measured
    in the 1M-person benchmark's GET p99. Objects made later are collected as usual."""
    import gc

    gc.collect()
    gc.freeze()


__all__ = [
    "WorkersOption",
    "api_config",
    "app",
    "default_workers",
    "make_api",
    "make_grpc_hub",
    "run_api",
    "settle_heap",
]
