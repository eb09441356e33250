"""Identity resolution over the canonical store, after the syncs. Thin: calls
``gridhub.jobs.resolution.resolve_store``, the function behind ``gridhub resolve --store``.

Every 30 minutes, five minutes past the quarter-hourly syncs (户籍 every 15 minutes, the
others hourly or streamed), new and changed source records are placed against the
existing persons; a run that finds nothing to do is cheap. Trigger with
``{"full": true}`` to re-resolve everything in one transaction (same persons, same uids),
or ``{"refit": true}`` to also fit a new model. ``max_active_runs=1``: two runs must not
place the same record twice (the job also locks its watermark row).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task


@dag(
    dag_id="identity_resolution",
    schedule="5,35 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    params={
        "full": Param(False, type="boolean", description="Re-resolve every record."),
        "refit": Param(False, type="boolean", description="Fit a new model (implies full)."),
    },
    tags=["gridhub", "resolution"],
    doc_md=__doc__,
)
def identity_resolution() -> None:
    @task
    def resolve_persons() -> dict[str, Any]:
        from gridhub.jobs.resolution import resolve_store

        params = get_current_context()["params"]
        return resolve_store(full=bool(params["full"]), refit=bool(params["refit"]))

    resolve_persons()


identity_resolution()
