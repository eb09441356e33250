"""Start, stop and steer the FHIR simulator from pytest fixtures, benchmarks and the demo.

``HealthSimulator`` runs the server in a background thread (cheap, the default) or in a
subprocess (``subprocess=True``): a subprocess keeps the server's CPU work off the caller's
GIL — what a benchmark needs — and survives the caller being killed. Either way it is
steered through the same admin HTTP API, so a test reads the same in both modes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess as sp
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from simulators.served import data_argument, launch, serve_in_thread, shut_down

__all__ = ["HealthSimulator"]


class HealthSimulator:
    """A running FHIR R4 server on loopback; ``start()`` returns its base URL.

    ``patients`` is a count (drawn from the synthetic district's health view, with
    encounters and observations, seeded by ``seed``; ``invalid`` of them made invalid) or
    explicit resources, which tests use to plant exactly what they need.
    """

    def __init__(
        self,
        patients: int | Sequence[Mapping[str, Any]] = 200,
        *,
        seed: int = 7,
        invalid: int = 0,
        token: str | None = None,
        max_count: int = 1000,
        subprocess: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/fhir",
    ) -> None:
        self.patients = patients
        self.seed = seed
        self.invalid = invalid
        self.token = token
        self.max_count = max_count
        self.use_subprocess = subprocess
        self.host = host
        self.port = port
        self.path = path
        self.admin_token = secrets.token_urlsafe(16)
        self.base_url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._proc: sp.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        if self.base_url:
            return self.base_url
        if self.use_subprocess:
            self._start_process()
        else:
            self._start_thread()
        return self.base_url

    def _start_thread(self) -> None:
        from simulators.health.__main__ import build_server

        self._server = build_server(
            self.patients,
            seed=self.seed,
            invalid=self.invalid,
            token=self.token,
            max_count=self.max_count,
            host=self.host,
            port=self.port,
            path=self.path,
            admin_token=self.admin_token,
        )
        self.base_url = self._server.address
        self._thread = serve_in_thread(self._server, "health-simulator")

    def _start_process(self) -> None:
        patients_arg = str(self.patients)
        if not isinstance(self.patients, int):
            self._tmp, patients_arg = data_argument(self.patients, "health-sim-", "resources.json")
        env = {**os.environ, "HEALTH_SIM_ADMIN_TOKEN": self.admin_token}
        if self.token:
            env["HEALTH_SIM_TOKEN"] = self.token
        args = [
            sys.executable, "-m", "simulators.health",
            "--patients", patients_arg, "--seed", str(self.seed),
            "--invalid", str(self.invalid), "--max-count", str(self.max_count),
            "--host", self.host, "--port", str(self.port), "--path", self.path,
        ]  # fmt: skip
        try:
            self._proc, ready = launch(args, env, "the health simulator")
        except RuntimeError:
            self.stop()
            raise
        self.base_url = ready["base_url"]

    def stop(self) -> None:
        shut_down(self._server, self._thread, self._proc, self._tmp)
        self._server, self._thread, self._proc, self._tmp = None, None, None, None
        self.base_url = ""

    def __enter__(self) -> HealthSimulator:
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
        if not self.base_url:
            raise RuntimeError("the simulator is not running")
        root = self.base_url[: -len(self.path)] if self.path else self.base_url
        data = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{root}{path}",
            data=data,
            method=method,
            headers={"X-Admin-Token": self.admin_token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def touch(self, resource: str, n: int) -> list[str]:
        """Change ``n`` resources of one type (new version, new lastUpdated); their ids."""
        ids: list[str] = self._admin("POST", "/admin/touch", {"resource": resource, "n": n})["ids"]
        return ids

    def put(self, resource: Mapping[str, Any]) -> str:
        """Create or replace one resource exactly as given; returns its new lastUpdated."""
        stamp: str = self._admin("POST", "/admin/put", {"resource": dict(resource)})["lastUpdated"]
        return stamp

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        resource: str | None = None,
        page: int | None = None,
        status: int = 500,
        delay_s: float = 0.0,
    ) -> None:
        """Make the next ``times`` matching requests misbehave (see ``faults.KINDS``)."""
        self._admin(
            "POST",
            "/admin/faults",
            {
                "kind": kind,
                "times": times,
                "resource": resource,
                "page": page,
                "status": status,
                "delay_s": delay_s,
            },
        )

    def clear_faults(self) -> None:
        self._admin("DELETE", "/admin/faults")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._admin("GET", "/admin/stats")
        return stats

    def snapshot(self) -> list[dict[str, Any]]:
        """Every resource's type, id, version and lastUpdated, oldest first."""
        resources: list[dict[str, Any]] = self._admin("GET", "/admin/snapshot")["resources"]
        return resources

    def truth(self) -> dict[str, Any]:
        """Who each patient really is and what was planted (tests only)."""
        truth: dict[str, Any] = self._admin("GET", "/admin/truth")
        return truth
