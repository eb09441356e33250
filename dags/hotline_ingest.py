"""Pull new 12345 work orders from the hotline's Kafka into the canonical store.

Thin: calls gridhub.jobs.sync.run_sync("hotline"), the same function `gridhub sync hotline`
runs. Each run reads up to the end of each partition as it finds it and stops; the offsets
commit with the records, so a failed or killed run is simply resumed by the next one. One
run at a time: two would race for the same cursor.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="hotline_ingest",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["gridhub", "sync", "hotline"],
    doc_md=__doc__,
)
def hotline_ingest() -> None:
    @task
    def sync_work_orders() -> list[dict[str, Any]]:
        from gridhub.jobs.sync import run_sync

        return run_sync("hotline")

    sync_work_orders()


hotline_ingest()
