"""What ``gridhub up`` prepares before it starts ``airflow standalone``: the Airflow home.

Split from ``gridhub.cli.up`` along the seam between preparing (read airflow.cfg, refuse a
home without DAGs, build standalone's environment: shared JWT secret and Fernet key, the API
server's address as the tasks' callback URL, a 0600 password file) and supervising. Nothing
here starts a process, so all of it can be checked without Airflow running.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOCAL_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor"})
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


__all__ = ["LOCAL_EXECUTORS", "AirflowHome", "prepare"]
