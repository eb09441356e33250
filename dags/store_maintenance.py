"""Keep the canonical store migrated and report its size. Thin: calls gridhub.jobs.store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="store_maintenance",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two migrations at once would race on alembic_version
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["gridhub", "store"],
    doc_md=__doc__,
)
def store_maintenance() -> None:
    @task
    def upgrade_store() -> dict[str, Any]:
        from gridhub.jobs.store import upgrade_store as job

        return job()

    @task
    def table_counts() -> dict[str, int]:
        from gridhub.jobs.store import table_counts as job

        return job()

    upgrade_store() >> table_counts()


store_maintenance()
