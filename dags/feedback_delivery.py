"""Close the loop: deliver due outbox messages (hotline replies, device acknowledgements,
civil-affairs visit records) with retries and backoff. Thin: calls gridhub.jobs.workflow."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(
    dag_id="feedback_delivery",
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["gridhub", "workflow"],
    doc_md=__doc__,
)
def feedback_delivery() -> None:
    @task
    def relay_once() -> dict[str, int]:
        from gridhub.jobs.workflow import relay_once as job

        return job()

    relay_once()


feedback_delivery()
