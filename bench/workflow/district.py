"""A synthetic district for the workflow benchmark: grids, buildings, workers, and a year of
finished tasks written in bulk (the measures only need their rows, not the path they took)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import (
    GridLevel,
    GridUnit,
    Task,
    TaskFeedback,
    TaskState,
    TaskTransition,
    new_uid,
)
from canonical_model.roster import GridWorker
from canonical_model.store import transaction

DISTRICT = "330106"
CATEGORIES = (
    "utilities",
    "hotline_general",
    "hotline_complex",
    "hotline_emergency",
    "device_alarm",
    "welfare_check",
    "leak_check",
    "follow_up_visit",
    "dibao_home_visit",
    "benefits_review",
)


def grid_codes(grids: int) -> list[str]:
    return [
        f"{DISTRICT}001{c:03d}{g:03d}" for c in range(1, grids // 10 + 2) for g in range(1, 11)
    ][:grids]


def seed_district(sessions: sessionmaker[Session], grids: int = 100) -> list[str]:
    """Units down to one building per grid, two on-duty workers per grid; returns buildings."""
    codes = grid_codes(grids)
    communities = sorted({c[:12] for c in codes})
    with transaction(sessions) as s:
        rows: list[dict[str, Any]] = [
            {"code": DISTRICT, "name": "区", "level": GridLevel.DISTRICT, "parent_code": None},
            {
                "code": DISTRICT + "001",
                "name": "街道",
                "level": GridLevel.SUBDISTRICT,
                "parent_code": DISTRICT,
            },
        ]
        rows += [
            {"code": c, "name": c, "level": GridLevel.COMMUNITY, "parent_code": c[:9]}
            for c in communities
        ]
        rows += [
            {"code": g, "name": g, "level": GridLevel.GRID, "parent_code": g[:12]} for g in codes
        ]
        rows += [
            {"code": g + "001", "name": g, "level": GridLevel.BUILDING, "parent_code": g}
            for g in codes
        ]
        now = datetime.now(UTC)
        for row in rows:
            row["created_at"] = now
        s.execute(insert(GridUnit), rows)
        s.add_all(GridWorker(code=f"W{g}{k}", name="w", grid_code=g) for g in codes for k in (1, 2))
        s.add_all(
            GridWorker(code=f"CA{c}", name="ca", grid_code=c, role="community_admin")
            for c in communities
        )
    return [g + "001" for g in codes]


def bulk_tasks(
    sessions: sessionmaker[Session], total: int, *, days: int = 365, end: datetime, seed: int = 7
) -> None:
    """``total`` tasks over ``days`` days before ``end``, most of them done and rated."""
    rng = random.Random(seed)
    with sessions() as s:
        workers = [
            (w.code, w.grid_code)
            for w in s.scalars(select(GridWorker).where(GridWorker.role == "grid_worker"))
        ]
    start = end - timedelta(days=days)
    span = (end - start).total_seconds()
    chunk = 20_000
    next_id = 1
    for offset in range(0, total, chunk):
        tasks, moves, feedback = [], [], []
        for _ in range(min(chunk, total - offset)):
            created = start + timedelta(seconds=rng.random() * span)
            code, grid = workers[rng.randrange(len(workers))]
            sla = timedelta(hours=rng.choice((2, 24, 24 * 7, 24 * 15)))
            r = rng.random()
            state = (
                TaskState.CLOSED
                if r < 0.8
                else TaskState.COMPLETED
                if r < 0.9
                else TaskState.ACCEPTED
                if r < 0.95
                else TaskState.PENDING
            )
            rating = rng.choices((5, 4, 3, 2, 1), (55, 25, 10, 6, 4))[0] if r < 0.7 else None
            tasks.append(
                {
                    "id": next_id,
                    "uid": new_uid(),
                    "category": rng.choice(CATEGORIES),
                    "priority": "normal",
                    "state": state,
                    "sla_deadline": created + sla,
                    "grid_code": grid,
                    "assignee": code,
                    "assignee_kind": "worker",
                    "title": "",
                    "rating": rating,
                    "escalation_level": 0,
                    "created_at": created,
                    "updated_at": created,
                    "version": 1,
                }
            )
            at = created + timedelta(minutes=rng.randint(5, 120))
            if rng.random() < 0.08:
                moves.append(
                    {
                        "task_id": next_id,
                        "from_state": TaskState.PENDING,
                        "to_state": TaskState.REJECTED,
                        "action": "reject",
                        "actor": code,
                        "actor_role": "grid_worker",
                        "at": at,
                    }
                )
            if state != TaskState.PENDING:
                moves.append(
                    {
                        "task_id": next_id,
                        "from_state": TaskState.PENDING,
                        "to_state": TaskState.ACCEPTED,
                        "action": "accept",
                        "actor": code,
                        "actor_role": "grid_worker",
                        "at": at,
                    }
                )
            if state in (TaskState.COMPLETED, TaskState.CLOSED):
                done = created + sla * rng.uniform(0.2, 1.3)
                moves.append(
                    {
                        "task_id": next_id,
                        "from_state": TaskState.IN_PROGRESS,
                        "to_state": TaskState.COMPLETED,
                        "action": "complete",
                        "actor": code,
                        "actor_role": "grid_worker",
                        "at": done,
                    }
                )
                feedback.append(
                    {
                        "task_id": next_id,
                        "actor": code,
                        "at": done,
                        "result": "resolved" if rng.random() < 0.9 else "unresolved",
                    }
                )
            next_id += 1
        with transaction(sessions) as s:
            s.execute(insert(Task), tasks)
            s.execute(insert(TaskTransition), moves)
            s.execute(insert(TaskFeedback), feedback)
