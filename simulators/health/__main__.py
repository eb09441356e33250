"""Run the FHIR simulator as a process: ``python -m simulators.health --patients 10000``.

Prints one JSON line (``{"base_url": …}``) once it listens, then serves until terminated.
The bearer token and admin token come from the environment (``HEALTH_SIM_TOKEN``,
``HEALTH_SIM_ADMIN_TOKEN``), never from the command line where any local user could read
them.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from simulators.health.server import FhirService, SimulatorServer, make_server
from simulators.health.store import ResourceStore


def build_server(
    patients: int | Sequence[Mapping[str, Any]],
    *,
    seed: int,
    invalid: int,
    token: str | None,
    max_count: int,
    host: str,
    port: int,
    path: str,
    admin_token: str,
) -> SimulatorServer:
    truth: dict[str, Any] = {}
    if isinstance(patients, int):
        from simulators.health.data import district_health

        data = district_health(patients, seed=seed, invalid=invalid)
        resources = data.resources
        truth = data.truth()
    else:
        resources = [json.loads(json.dumps(dict(r))) for r in patients]
    service = FhirService(ResourceStore(resources), truth=truth, token=token, max_count=max_count)
    return make_server(service, host=host, port=port, path=path, admin_token=admin_token)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.health", description=__doc__)
    parser.add_argument("--patients", default="200", help="a count, or @file.json (resources)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--invalid", type=int, default=0, help="resources to make invalid")
    parser.add_argument("--max-count", type=int, default=1000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--path", default="/fhir")
    args = parser.parse_args(argv)

    patients: int | list[dict[str, Any]]
    if args.patients.startswith("@"):
        patients = json.loads(Path(args.patients[1:]).read_text(encoding="utf-8"))
    else:
        patients = int(args.patients)
    server = build_server(
        patients,
        seed=args.seed,
        invalid=args.invalid,
        token=os.environ.get("HEALTH_SIM_TOKEN") or None,
        max_count=args.max_count,
        host=args.host,
        port=args.port,
        path=args.path,
        admin_token=os.environ.get("HEALTH_SIM_ADMIN_TOKEN") or secrets.token_urlsafe(16),
    )

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(json.dumps({"base_url": server.address}), flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
