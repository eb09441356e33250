"""Start, stop and steer the 户籍 simulator from pytest fixtures, benchmarks and the demo.

``HukouSimulator`` runs the service in a background thread (cheap, the default) or in a
subprocess (``subprocess=True``): a subprocess keeps the server's CPU work off the caller's
GIL — what a benchmark needs — and survives the caller being killed. Either way it is steered
through the same admin HTTP API, so a test reads the same in both modes.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from subprocess import Popen
from types import TracebackType
from typing import Any

from simulators.hukou.server import HukouService, SimulatorServer, make_server
from simulators.hukou.store import HukouPerson, PersonStore
from simulators.hukou.wssec import UsernameTokenVerifier
from simulators.served import data_argument, launch, serve_in_thread, shut_down

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME", "HukouSimulator", "build_server"]

DEFAULT_USERNAME = "gridhub"
DEFAULT_PASSWORD = "hukou-sim-password"  # a simulator's credential, not a secret


def build_server(
    persons: int | Sequence[Mapping[str, Any]],
    *,
    seed: int,
    username: str,
    password: str,
    accept: Sequence[str],
    max_page_size: int,
    host: str,
    port: int,
    path: str,
    admin_token: str,
) -> SimulatorServer:
    """The service bound to its port but not yet serving: the thread mode and the process
    entry point (``python -m simulators.hukou``) build it the same way."""
    if isinstance(persons, int):
        from simulators.hukou.data import district_persons

        records = district_persons(persons, seed=seed)
    else:
        records = [HukouPerson.from_fields(p) for p in persons]
    store = PersonStore(records, seed=seed)
    verifier = UsernameTokenVerifier(username, password, accept=accept)
    service = HukouService(store, verifier, max_page_size=max_page_size)
    return make_server(service, host=host, port=port, path=path, admin_token=admin_token)


class HukouSimulator:
    """A running 户籍 SOAP service on loopback; ``start()`` returns the WSDL URL.

    ``persons`` is either a count (that many residents drawn from the synthetic district's
    household register, seeded by ``seed``) or explicit records in wire form
    (``{"idNumber": …, "name": …}``), which tests use to plant exactly the data they need.
    """

    def __init__(
        self,
        persons: int | Sequence[Mapping[str, Any]] = 1000,
        *,
        seed: int = 7,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        accept: Sequence[str] = ("text", "digest"),
        max_page_size: int = 5000,
        subprocess: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/hukou",
    ) -> None:
        self.persons = persons
        self.seed = seed
        self.username = username
        self.password = password
        self.accept = tuple(accept)
        self.max_page_size = max_page_size
        self.use_subprocess = subprocess
        self.host = host
        self.port = port
        self.path = path
        self.admin_token = secrets.token_urlsafe(16)
        self.service_url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._proc: Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def wsdl_url(self) -> str:
        return f"{self.service_url}?wsdl"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> str:
        if self.service_url:
            return self.wsdl_url
        if self.use_subprocess:
            self._start_process()
        else:
            self._start_thread()
        return self.wsdl_url

    def _start_thread(self) -> None:
        self._server = build_server(
            self.persons,
            seed=self.seed,
            username=self.username,
            password=self.password,
            accept=self.accept,
            max_page_size=self.max_page_size,
            host=self.host,
            port=self.port,
            path=self.path,
            admin_token=self.admin_token,
        )
        self.service_url = self._server.address
        self._thread = serve_in_thread(self._server, "hukou-simulator")

    def _start_process(self) -> None:
        persons_arg = str(self.persons)
        if not isinstance(self.persons, int):
            self._tmp, persons_arg = data_argument(self.persons, "hukou-sim-", "persons.json")
        env = {
            **os.environ,
            "HUKOU_SIM_PASSWORD": self.password,
            "HUKOU_SIM_ADMIN_TOKEN": self.admin_token,
        }
        args = [
            sys.executable,
            "-m",
            "simulators.hukou",
            "--persons",
            persons_arg,
            "--seed",
            str(self.seed),
            "--username",
            self.username,
            "--accept",
            ",".join(self.accept),
            "--max-page-size",
            str(self.max_page_size),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--path",
            self.path,
        ]
        try:
            self._proc, ready = launch(args, env, "the hukou simulator")
        except RuntimeError:
            self.stop()
            raise
        self.service_url = ready["service_url"]

    def stop(self) -> None:
        shut_down(self._server, self._thread, self._proc, self._tmp)
        self._server, self._thread, self._proc, self._tmp = None, None, None, None
        self.service_url = ""

    def __enter__(self) -> HukouSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- steering ------------------------------------------------------------------------

    def _admin(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        if not self.service_url:
            raise RuntimeError("the simulator is not running")
        base = self.service_url.rsplit("/", 1)[0]
        data = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{base}{path}",
            data=data,
            method=method,
            headers={"X-Admin-Token": self.admin_token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def touch(self, n: int) -> list[str]:
        """Change ``n`` distinct persons (new version, new updatedAt); returns their ids."""
        ids: list[str] = self._admin("POST", "/admin/touch", {"n": n})["ids"]
        return ids

    def put(self, person: Mapping[str, Any]) -> None:
        """Insert or replace one person, given in wire form (``idNumber``, ``name`` …)."""
        self._admin("POST", "/admin/put", {"person": dict(person)})

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        page: int | None = None,
        operation: str | None = None,
        delay_s: float = 0.0,
        fault_code: str = "Server",
    ) -> None:
        """Make the next ``times`` matching requests misbehave (see ``faults.KINDS``)."""
        self._admin(
            "POST",
            "/admin/faults",
            {
                "kind": kind,
                "times": times,
                "page": page,
                "operation": operation,
                "delay_s": delay_s,
                "fault_code": fault_code,
            },
        )

    def clear_faults(self) -> None:
        self._admin("DELETE", "/admin/faults")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "/admin/stats")
        return stats

    def snapshot(self) -> list[dict[str, Any]]:
        """Every person's ``idNumber``, ``updatedAt`` and ``version``, in feed order."""
        persons: list[dict[str, Any]] = self._admin("GET", "/admin/snapshot")["persons"]
        return persons
