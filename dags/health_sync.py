"""Sync the district health platform (FHIR R4) every 30 minutes: patients, then inpatient
stays and vital signs.

Thin: each task calls ``gridhub.jobs.sync.run_sync("health", [stream])``, the function
behind ``gridhub sync health``. Patients go first so a run that stops early has the people
before their events. Each stream's watermark moves only when its whole search has been
read, so a failed run is simply repeated by the next one (already stored resources are
recognised by their content hash); ``max_active_runs=1`` keeps two runs from racing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="health_sync",
    schedule=timedelta(minutes=30),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["gridhub", "sync", "health"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
)
def health_sync() -> None:
    @task
    def sync_patients() -> list[dict[str, Any]]:
        from gridhub.jobs.sync import run_sync

        return run_sync("health", ["patients"])

    @task
    def sync_encounters() -> list[dict[str, Any]]:
        from gridhub.jobs.sync import run_sync

        return run_sync("health", ["encounters"])

    @task
    def sync_observations() -> list[dict[str, Any]]:
        from gridhub.jobs.sync import run_sync

        return run_sync("health", ["observations"])

    sync_patients() >> sync_encounters() >> sync_observations()


health_sync()
