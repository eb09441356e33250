"""Verify the whole exchange log every night, then sign a checkpoint at its head.

Thin: the tasks call ``gridhub.jobs.audit.verify_chain`` and ``sign_checkpoint``, the
functions behind ``gridhub audit verify`` and ``gridhub audit checkpoint``. A chain that does
not verify fails the run at once, without retries (tampering does not heal), naming the first
bad seq in the task log; nothing is signed over it. Run ``gridhub audit verify`` to see every
finding. Other errors (the database away) are retried.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task


@dag(
    dag_id="audit_maintenance",
    # airflow.cfg sets default_timezone = Asia/Shanghai: 01:15 local, after daily_stats.
    schedule="15 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["gridhub", "audit"],
    doc_md=__doc__,
)
def audit_maintenance() -> None:
    @task
    def verify_chain() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from gridhub.jobs.audit import ChainInvalid
        from gridhub.jobs.audit import verify_chain as job

        try:
            return job()
        except ChainInvalid as exc:
            raise AirflowFailException(str(exc)) from exc

    @task
    def sign_checkpoint() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from gridhub.jobs.audit import ChainBroken
        from gridhub.jobs.audit import sign_checkpoint as job

        try:
            return job()
        except ChainBroken as exc:
            raise AirflowFailException(str(exc)) from exc

    verify_chain() >> sign_checkpoint()


audit_maintenance()
