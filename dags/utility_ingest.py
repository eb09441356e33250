"""Load the water, power and gas companies' meter-reading files from the inbox, hourly.

Thin: the task calls ``gridhub.jobs.sync.run_sync("utility")``, the function behind
``gridhub sync utility``. Files are loaded whole or rejected whole (with a reason file in
the rejected folder); a file moves to the archive only after its readings are committed,
so a failed or killed run leaves it in the inbox for the next one, which loads it again
without duplicating anything. Companies drop once a day; the hourly schedule just picks a
late drop up soon.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="utility_ingest",
    schedule=timedelta(hours=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["gridhub", "sync", "utility"],
    doc_md=__doc__,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
)
def utility_ingest() -> None:
    @task
    def ingest_files() -> list[dict[str, Any]]:
        from gridhub.jobs.sync import run_sync

        return run_sync("utility")

    ingest_files()


utility_ingest()
