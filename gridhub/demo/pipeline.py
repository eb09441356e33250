"""Every DAG of the first run, through Airflow: ``python -m gridhub.demo.pipeline``.

A child process of the demo, configured by its environment alone (``GRIDHUB_…`` and
``AIRFLOW_…``, built by ``DemoConfig.env``). It migrates Airflow's metadata database while
the demo starts the sources, waits for the demo to say they serve, then runs each DAG with
``dag.test()`` — the sync DAGs, identity resolution, the device registration, then the
workflow DAGs — and appends one JSON line per step to ``--events``: the step, its state,
its tasks' states and their return values (counts and uids, never personal data).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from gridhub.settings import REPO_ROOT

__all__ = ["DAGS", "SYNC_DAGS", "main"]

#: Sync DAG → the source it syncs, in the order the first run takes them.
SYNC_DAGS: dict[str, str] = {
    "hukou_sync": "hukou",
    "civil_affairs_sync": "civil_affairs",
    "hotline_ingest": "hotline",
    "health_sync": "health",
    "utility_ingest": "utility",
}
#: Every step of the first run, in order (``register_devices`` is the CLI's, not a DAG).
DAGS: tuple[str, ...] = (
    *SYNC_DAGS,
    "identity_resolution",
    "register_devices",
    "task_sla_watch",
    "feedback_delivery",
)


def _emit(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps(fields, ensure_ascii=False, default=str) + "\n")
    out.flush()


def _migrate_airflow() -> None:
    """Airflow's metadata database at its newest revision (cheap when it already is)."""
    from airflow.utils import db

    try:
        db.check_migrations(0)  # type: ignore[no-untyped-call]
    except TimeoutError:
        db.upgradedb()


def _return_values(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.key == "return_value",
            )
            .all()
        )
        return {row.task_id: row.value for row in rows}


def _run_dag(bag: Any, dag_id: str) -> dict[str, Any]:
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise LookupError(f"DAG {dag_id} not found in {REPO_ROOT / 'dags'}: {bag.import_errors}")
    run = dag.test()
    tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    ok = bool(tasks) and all(state == "success" for state in tasks.values())
    return {
        "state": "success" if ok else "failed",
        "tasks": tasks,
        "results": _return_values(dag_id, run.run_id),
    }


def _register_devices(devices: Path) -> dict[str, Any]:
    """What ``gridhub device-bridge register manifest.json`` does, on the demo's estate."""
    from canonical_model.store import transaction
    from device_bridge import register_devices
    from gridhub.wiring import sessions

    rows = json.loads((devices / "manifest.json").read_text(encoding="utf-8"))
    with transaction(sessions()) as s:
        report = register_devices(s, rows)
    result: dict[str, Any] = report.as_dict()
    return {"state": "success", "tasks": {"register": "success"}, "results": result}


def _wait_for(path: Path, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sources did not come up within {timeout:.0f} s")
        time.sleep(0.2)
    ready: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return ready


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridhub.demo.pipeline")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True, help="written once sources serve")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--only", nargs="*", help="run only these steps")
    args = parser.parse_args(argv)
    # Stopping mid-DAG is what a kill would do: every checkpoint is its own transaction, so
    # nothing half-written stays. (Inside a running task Airflow installs its own handler;
    # the supervisor then kills this process after a short grace.)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    with args.events.open("a", encoding="utf-8") as out:
        started = time.monotonic()
        _emit(out, step="airflow_db", state="running")
        _migrate_airflow()
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
        _emit(out, step="airflow_db", state="success", seconds=time.monotonic() - started)
        ready = _wait_for(args.ready, args.timeout)
        for step in args.only or DAGS:
            began = time.monotonic()
            _emit(out, step=step, state="running")
            try:
                if step == "register_devices":
                    outcome = _register_devices(Path(ready["devices"]))
                else:
                    outcome = _run_dag(bag, step)
            except Exception as exc:  # the demo shows the step and stops; the log has the rest
                traceback.print_exc()
                outcome = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
            _emit(out, step=step, seconds=time.monotonic() - began, **outcome)
            if outcome["state"] != "success":
                return 1
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Airflow leaves non-daemon threads behind after dag.test(); they must not keep this
    # process (and the demo's shutdown) waiting once every step is recorded.
    os._exit(status)
