"""Sync household registration (户籍) from the district's SOAP service every 15 minutes.

Thin: the task calls ``gridhub.jobs.sync.run_sync("hukou")``, the function behind
``gridhub sync hukou``. Each run resumes from the stored cursor, so a missed or failed run
is simply caught up by the next one; ``max_active_runs=1`` keeps two runs from racing for
the same cursor (the engine would stop the second one anyway).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="hukou_sync",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["gridhub", "sync", "hukou"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
)
def hukou_sync() -> None:
    @task
    def sync_persons() -> list[dict[str, Any]]:
        from gridhub.jobs.sync import run_sync

        return run_sync("hukou")

    sync_persons()


hukou_sync()
