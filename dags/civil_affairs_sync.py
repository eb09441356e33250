"""Sync civil affairs (民政) into the canonical store: a connection check, then one task per
table (低保, 特困, 高龄补贴, 残疾, 死亡登记). Thin: every task calls gridhub.jobs.sync.

Tasks run one at a time (``max_active_tasks=1``): the source is a legacy system its clerks
are using, and a SQLite store takes one writer. A stream that fails does not hold up the
others; each resumes from its own cursor on the retry or the next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

SOURCE = "civil_affairs"
STREAMS = ("dibao", "tekun", "elderly_allowance", "disability", "deaths")


@dag(
    dag_id="civil_affairs_sync",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["gridhub", "sync", SOURCE],
    doc_md=__doc__,
)
def civil_affairs_sync() -> None:
    @task
    def check_connection() -> None:
        from gridhub.jobs.sync import check_source

        ok, error = check_source(SOURCE)
        if not ok:
            raise RuntimeError(f"{SOURCE} is unreachable: {error}")

    @task
    def sync(stream: str) -> dict[str, Any]:
        from gridhub.jobs.sync import run_sync

        return run_sync(SOURCE, [stream])[0]

    checked = check_connection()
    for stream in STREAMS:
        checked >> sync.override(task_id=f"sync_{stream}")(stream)


civil_affairs_sync()
