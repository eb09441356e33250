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
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

READY_TIMEOUT_S = 600.0  # a cold start on a loaded two-core machine takes minutes
DAG_TAG = "gridhub"
LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor"})
_SECRET_LINE = "Password for user"  # noqa: S105 - the line to hide, not a password
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class AirflowHome:
    """What standalone runs with: its environment and where to find what it makes."""

    home: Path
    env: dict[str, str]
    airflow: str
    api_url: str
    dags_folder: Path
    passwords_file: Path
    admin_user: str
    all_admins: bool
    db_label: str
    notes: tuple[str, ...]


def _config_getter(config: Path, env: dict[str, str], home: Path) -> Callable[..., str | None]:
    """Airflow's precedence: ``AIRFLOW__SECTION__KEY`` first, then airflow.cfg, then default."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config, encoding="utf-8")

    def get(section: str, key: str, default: str | None = None) -> str | None:
        name = f"AIRFLOW__{section.upper()}__{key.upper()}"
        if name in env:
            return env[name]
        if parser.has_option(section, key):
            return parser.get(section, key).replace("${AIRFLOW_HOME}", str(home)).strip()
        return default

    return get


def _private_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def _persisted_secrets(path: Path) -> dict[str, str]:
    """The JWT secret and Fernet key every component shares, made once and kept (0600)."""
    import base64
    import json
    import secrets

    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return stored
    made = {
        "jwt_secret": secrets.token_urlsafe(64),
        "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"),
    }
    _private_file(path, json.dumps(made) + "\n")
    return made


def _db_label(url: str) -> str:
    from urllib.parse import urlsplit

    if url.startswith("sqlite"):
        return f"SQLite {url.split(':///', 1)[-1]}"
    parts = urlsplit(url)
    return f"{parts.scheme} on {parts.hostname}:{parts.port or ''}{parts.path}"  # no password


def prepare(home_opt: Path | None, host_opt: str | None, port_opt: int | None) -> AirflowHome:
    """Check airflow.cfg and build standalone's environment; refuses a home without DAGs."""
    from gridhub.settings import REPO_ROOT

    home = (home_opt or Path(os.environ.get("AIRFLOW_HOME") or REPO_ROOT)).resolve()
    config = home / "airflow.cfg"
    if home_opt is None and os.environ.get("AIRFLOW_CONFIG"):
        config = Path(os.environ["AIRFLOW_CONFIG"]).resolve()
    if not config.is_file():
        raise FileNotFoundError(f"no Airflow configuration at {config}")
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(config),
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),  # standalone runs `airflow`
    }
    get = _config_getter(config, env, home)
    notes: list[str] = [f"AIRFLOW_HOME={home} (config {config.name})"]

    dags_folder = Path(get("core", "dags_folder") or home / "dags")
    if not dags_folder.is_dir() or not any(dags_folder.glob("*.py")):
        raise FileNotFoundError(f"dags_folder {dags_folder} holds no DAG files")
    if (get("core", "load_examples", "True") or "").lower() in _TRUE:
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        notes.append("load_examples was on: turned off (the example DAGs would run too)")
    executor = get("core", "executor", "LocalExecutor") or "LocalExecutor"
    if executor.split(".")[-1] not in LOCAL_EXECUTORS:
        notes.append(
            f"executor {executor}: standalone runs LocalExecutor on this machine; "
            "run a Celery/Kubernetes deployment as docs/operations.md describes"
        )
    db_url = get("database", "sql_alchemy_conn") or f"sqlite:///{home / 'airflow.db'}"
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    log_folder = get("logging", "base_log_folder")
    if log_folder:
        Path(log_folder).mkdir(parents=True, exist_ok=True)

    host = host_opt or get("api", "host") or "127.0.0.1"
    port = port_opt or int(get("api", "port") or 8080)
    url_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    api_url = f"http://{url_host}:{port}"
    env["AIRFLOW__API__HOST"] = host
    env["AIRFLOW__API__PORT"] = str(port)
    if host_opt or port_opt or not get("api", "base_url"):
        env["AIRFLOW__API__BASE_URL"] = api_url  # tasks reach the execution API here
    else:
        api_url = (get("api", "base_url") or api_url).rstrip("/")
    if get("api", "workers") is None:
        env["AIRFLOW__API__WORKERS"] = "1"  # Airflow's default of 4 is too many for one box

    var = home / "var" / "airflow"
    if not get("api_auth", "jwt_secret") and not get("api_auth", "jwt_private_key_path"):
        env["AIRFLOW__API_AUTH__JWT_SECRET"] = _persisted_secrets(var / "secrets.json")[
            "jwt_secret"
        ]
    if not get("core", "fernet_key"):
        env["AIRFLOW__CORE__FERNET_KEY"] = _persisted_secrets(var / "secrets.json")["fernet_key"]
    passwords = Path(
        get("core", "simple_auth_manager_passwords_file")
        or var / "simple_auth_manager_passwords.json.generated"
    )
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
    if not passwords.exists():
        _private_file(passwords, "")  # Airflow fills it; created first so it is born 0600
    users = get("core", "simple_auth_manager_users", "admin:admin") or "admin:admin"
    pairs = [u.strip().split(":") for u in users.split(",") if u.strip()]
    admin = next((p[0] for p in pairs if len(p) > 1 and p[1].lower() == "admin"), "admin")
    return AirflowHome(
        home=home,
        env=env,
        airflow=str(Path(bindir) / "airflow"),
        api_url=api_url,
        dags_folder=dags_folder,
        passwords_file=passwords,
        admin_user=admin,
        all_admins=(get("core", "simple_auth_manager_all_admins", "False") or "").lower() in _TRUE,
        db_label=_db_label(db_url),
        notes=tuple(notes),
    )


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


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    import psutil

    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def _stop(proc: subprocess.Popen[bytes], first: signal.Signals, timeout_s: float) -> None:
    """Signal ``proc``; after ``timeout_s`` terminate, then kill, what is left of its group."""
    import time

    pgid = proc.pid  # start_new_session: the leader's pid is the group's id
    if proc.poll() is None:
        proc.send_signal(first)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _echo(f"pid {proc.pid} still running after {timeout_s:.0f}s: terminating its group")
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        proc.poll()
        if not _group_members(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (proc.poll() is None or _group_members(pgid)):
            time.sleep(0.2)
    proc.wait()


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
