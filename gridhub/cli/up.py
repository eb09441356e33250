"""``gridhub up``: the hub for scheduled operation — ``airflow standalone`` over ``dags/``.

``make up`` runs it. Standalone runs the scheduler, the DAG processor, the triggerer and the
API server (REST API and UI) as child processes; this command prepares what standalone
leaves to chance and supervises it:

- every component must share one JWT secret (the scheduler signs the tokens the execution
  API checks); with none configured each process would invent its own and every task would
  be refused, so one is kept in ``var/airflow/secrets.json`` (0600), with a Fernet key;
- the API server's address is also the base URL tasks call back, so both follow
  ``--host``/``--port``;
- the generated admin password goes to a 0600 file under ``var/airflow/``, never to the
  console or a captured log;
- gridhub DAGs left paused (by an operator, or ``dags_are_paused_at_creation``) are
  unpaused once the DAG processor has parsed every file;
- standalone stops cleanly only on SIGINT, so Ctrl-C and SIGTERM both become a SIGINT to
  it; whatever still runs after ``--stop-timeout`` (say a task mid-sync, which is safe: the
  cursor commits with the data) is terminated with its process group.

The preparing lives in ``gridhub.cli.airflow_home``, the stopping in ``gridhub.processes``
(shared with the demo); this module supervises.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

import typer

from gridhub.cli.airflow_home import AirflowHome, prepare
from gridhub.processes import stop_group

READY_TIMEOUT_S = 600.0  # a cold start on a loaded two-core machine takes minutes
DAG_TAG = "gridhub"
_SECRET_LINE = "Password for user"  # noqa: S105 - the line to hide, not a password


def wait_healthy(api_url: str, timeout_s: float, alive: Callable[[], bool]) -> bool:
    """Until the API server says its database and scheduler are healthy (False: gave up)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5.0) as client:
        while alive() and time.monotonic() < deadline:
            try:
                reply = client.get(f"{api_url}/api/v2/monitor/health")
                body = reply.json() if reply.status_code == 200 else {}
                if all(
                    body.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler")
                ):
                    return True
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(2.0)
    return False


def unpause_gridhub_dags(
    home: AirflowHome, timeout_s: float, alive: Callable[[], bool]
) -> tuple[list[str], list[str]]:
    """Wait until every DAG file is parsed (or failed to import); unpause the gridhub DAGs.

    Returns the gridhub DAG ids and the names of files that failed to import.
    """
    import json
    import time

    import httpx

    files = {p.name for p in home.dags_folder.glob("*.py") if not p.name.startswith("_")}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=home.api_url, timeout=30.0) as client:
        if home.all_admins:
            reply = client.get("/auth/token")
        else:
            password = json.loads(home.passwords_file.read_text(encoding="utf-8"))[home.admin_user]
            reply = client.post(
                "/auth/token", json={"username": home.admin_user, "password": password}
            )
        reply.raise_for_status()
        client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        dags: list[dict[str, object]] = []
        broken: set[str] = set()
        while alive() and time.monotonic() < deadline:
            dags = (
                client.get("/api/v2/dags", params={"limit": 1000}).raise_for_status().json()["dags"]
            )
            errors = client.get("/api/v2/importErrors", params={"limit": 1000})
            broken = {
                Path(e["filename"]).name for e in errors.raise_for_status().json()["import_errors"]
            }
            if files <= {Path(str(d["fileloc"])).name for d in dags} | broken:
                break
            time.sleep(3.0)
        ours = [d for d in dags if DAG_TAG in _tag_names(d.get("tags"))]
        for dag in ours:
            if dag["is_paused"]:
                client.patch(
                    f"/api/v2/dags/{dag['dag_id']}", json={"is_paused": False}
                ).raise_for_status()
    return [str(d["dag_id"]) for d in ours], sorted(broken & files)


def _unpause_or_explain(
    home: AirflowHome, alive: Callable[[], bool]
) -> tuple[list[str], list[str]]:
    """Unpausing is best effort: the scheduler runs whatever is unpaused either way."""
    import httpx

    try:
        return unpause_gridhub_dags(home, READY_TIMEOUT_S, alive)
    except (httpx.HTTPError, KeyError, ValueError, OSError) as exc:
        _echo(f"could not unpause the gridhub DAGs through the API ({type(exc).__name__}: {exc})")
        return [], []


def _tag_names(tags: object) -> set[str]:
    if not isinstance(tags, list):
        return set()
    return {str(t.get("name")) if isinstance(t, dict) else str(t) for t in tags}


def _echo(message: str) -> None:
    typer.echo(f"{'gridhub':10} | {message}")


def _pump(lines: Iterable[bytes]) -> None:
    """Pass standalone's output through, minus a generated password."""
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip()
        if _SECRET_LINE in line:
            line = line.split(_SECRET_LINE)[0] + "admin password written to the credentials file"
        typer.echo(line)


def _start(cmd: list[str], env: dict[str, str], *, pipe: bool) -> subprocess.Popen[bytes]:
    # Own session: a terminal's Ctrl-C reaches only this supervisor, which stops the children
    # in order; the process group is also how stragglers are found at the end.
    return subprocess.Popen(  # noqa: S603 - our own argv: airflow or gridhub
        cmd,
        env=env,
        stdout=subprocess.PIPE if pipe else None,
        stderr=subprocess.STDOUT if pipe else None,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], first: signal.Signals, timeout_s: float) -> None:
    """Signal ``proc`` alone; after ``timeout_s`` terminate, then kill, what is left of its
    group (``gridhub.processes.stop_group``)."""

    def overdue() -> None:
        _echo(f"pid {proc.pid} still running after {timeout_s:.0f}s: terminating its group")

    stop_group(proc, timeout_s, first=first, leader_only=True, overdue=overdue)


def _gridhub(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("gridhub")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from gridhub.cli import main; main()", *args]


def command(
    airflow_home: Annotated[
        Path | None,
        typer.Option(
            "--airflow-home", help="Holds airflow.cfg (default: $AIRFLOW_HOME, else the repo)."
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address of the Airflow UI/API (default: api.host)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port of the Airflow UI/API.")
    ] = None,
    with_api: Annotated[
        bool, typer.Option("--with-api", help="Also serve the query API and gRPC.")
    ] = False,
    api_port: Annotated[int, typer.Option("--api-port", min=1, max=65535)] = 8000,
    grpc_port: Annotated[int, typer.Option("--grpc-port", min=1, max=65535)] = 50051,
    stop_timeout: Annotated[
        float, typer.Option("--stop-timeout", min=1, help="Seconds allowed for a clean stop.")
    ] = 60.0,
) -> None:
    """Run the hub under `airflow standalone`, the DAGs on their schedules, until Ctrl-C."""
    try:
        home = prepare(airflow_home, host, port)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for note in home.notes:
        _echo(note)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    _echo(f"migrating the Airflow metadata database ({home.db_label})")
    migrate = subprocess.run(  # noqa: S603 - the venv's airflow
        [home.airflow, "db", "migrate"], env=home.env, capture_output=True, check=False
    )
    if migrate.returncode != 0:
        typer.echo(migrate.stderr.decode("utf-8", "replace")[-4000:], err=True)
        typer.echo("error: `airflow db migrate` failed", err=True)
        raise typer.Exit(1)
    if stop.is_set():
        raise typer.Exit(130)

    standalone = _start([home.airflow, "standalone"], home.env, pipe=True)
    assert standalone.stdout is not None
    pump = threading.Thread(target=_pump, args=(standalone.stdout,), daemon=True)
    pump.start()
    extras = []
    if with_api:
        for cmd in (("api", "--port", str(api_port)), ("grpc", "--port", str(grpc_port))):
            extras.append(_start(_gridhub("serve", *cmd), home.env, pipe=False))

    def alive() -> bool:
        return not stop.is_set() and standalone.poll() is None

    code = 0
    try:
        if not wait_healthy(home.api_url, READY_TIMEOUT_S, alive):
            if not stop.is_set():
                _echo(f"Airflow did not become healthy at {home.api_url}")
                code = 1
        else:
            dags, broken = _unpause_or_explain(home, alive)
            _echo(f"{len(dags)} gridhub DAGs on their schedules: {', '.join(sorted(dags))}")
            for name in broken:
                _echo(f"DAG file failed to import: {name} (details in the UI)")
            _echo(f"Airflow UI and REST API: {home.api_url}/")
            if not home.all_admins:
                _echo(f"sign in as {home.admin_user!r}; password in {home.passwords_file}")
            if with_api:
                _echo(f"query API http://127.0.0.1:{api_port}/docs · gRPC 127.0.0.1:{grpc_port}")
            _echo("Ctrl-C stops everything")
        while code == 0 and alive() and all(p.poll() is None for p in extras):
            stop.wait(1.0)
        if code == 0 and not stop.is_set():
            _echo("a component exited on its own: stopping the rest")
            code = 1
    finally:
        _echo("stopping")
        for proc in extras:
            _stop(proc, signal.SIGTERM, 15.0)
        _stop(standalone, signal.SIGINT, stop_timeout)
        pump.join(timeout=5.0)
        _echo("stopped")
    raise typer.Exit(code)


__all__ = ["AirflowHome", "command", "prepare", "unpause_gridhub_dags", "wait_healthy"]
