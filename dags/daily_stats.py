"""Rebuild the daily task figures (task_daily_stats) for every day whose tasks changed,
so district measures stay fast. Thin: calls gridhub.jobs.workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="daily_stats",
    # airflow.cfg sets default_timezone = Asia/Shanghai, so cron reads Shanghai time:
    # 00:30 local, when yesterday is complete.
    schedule="30 0 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["gridhub", "workflow"],
    doc_md=__doc__,
)
def daily_stats() -> None:
    @task
    def refresh() -> dict[str, Any]:
        from gridhub.jobs.workflow import daily_stats as job

        return job()

    refresh()


daily_stats()
