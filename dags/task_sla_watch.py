"""Events in, tasks out, limits watched: produce events from the sources, hand queued tasks
to workers who came on duty, escalate SLA breaches and auto-close unconfirmed completions.
Thin: calls gridhub.jobs.workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="task_sla_watch",
    schedule=timedelta(minutes=10),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["gridhub", "workflow"],
    doc_md=__doc__,
)
def task_sla_watch() -> None:
    @task
    def produce_events() -> dict[str, Any]:
        from gridhub.jobs.workflow import produce_events as job

        return job()

    @task
    def dispatch_queued() -> dict[str, int]:
        from gridhub.jobs.workflow import dispatch_queued as job

        return job()

    @task
    def watch_slas() -> dict[str, int]:
        from gridhub.jobs.workflow import watch_slas as job

        return job()

    produce_events() >> dispatch_queued() >> watch_slas()


task_sla_watch()
