"""Organisations take orders (下单, 点单, 接单) under the grid worker's eye; ledger; map summary."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Task, TaskState
from canonical_model.store import transaction
from tests.workflow.district import GRID1, GRID2, T0, seed
from workflow import (
    NotPermitted,
    TaskConflict,
    close,
    complete,
    grid_summary,
    ledger_csv,
    open_orders,
    oversight,
    place_order,
    request_service,
    service_ledger,
    start,
    take_order,
)


def test_orders_are_taken_by_an_eligible_organisation_once(
    sessions: sessionmaker[Session],
) -> None:
    district = seed(sessions)
    with transaction(sessions) as s:
        ordered = place_order(
            s,
            department="civil_affairs_bureau",
            service_category="elder_care",
            place_code=GRID1,
            title="助餐服务",
            sla=timedelta(days=3),
            now=T0,
        )
        requested = request_service(
            s,
            person_id=district.elder_id,
            service_category="elder_care",
            title="上门助浴",
            now=T0,
        )
        assert (ordered.assignee_kind, ordered.assignee, ordered.grid_code) == ("org", None, GRID1)
        assert requested.grid_code == GRID1
        assert {t.uid for t in open_orders(s, "ORG1")} == {ordered.uid, requested.uid}
        assert open_orders(s, "ORG2") == []  # mediation only
        with pytest.raises(NotPermitted):
            take_order(s, ordered.uid, org_code="ORG2", now=T0)
        assert {t.uid for t in oversight(s, "W1")} == {ordered.uid, requested.uid}
    uid = ordered.uid
    mine, theirs = sessions(), sessions()
    try:
        mine.begin()
        theirs.begin()
        seen = theirs.scalars(select(Task).where(Task.uid == uid)).one()  # both see it open
        take_order(mine, uid, org_code="ORG1", now=T0 + timedelta(hours=1))
        mine.commit()
        assert seen.state == TaskState.PENDING
        with pytest.raises(TaskConflict):
            take_order(theirs, uid, org_code="ORG1", actor="another desk", now=T0)
        theirs.rollback()
    finally:
        mine.close()
        theirs.close()
    with transaction(sessions) as s:
        start(s, uid, actor="ORG1", role="org", now=T0 + timedelta(hours=2))
        complete(
            s,
            uid,
            actor="ORG1",
            role="org",
            result="resolved",
            notes="已送餐",
            now=T0 + timedelta(days=1),
        )
        close(
            s,
            uid,
            actor="civil_affairs_bureau",
            role="requester",
            rating=5,
            now=T0 + timedelta(days=2),
        )
        assert open_orders(s, "ORG1")[0].uid == requested.uid
    with sessions() as s:
        rows = service_ledger(s, "ORG1", start=T0 - timedelta(days=1), end=T0 + timedelta(days=7))
    text = ledger_csv(rows)
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 1
    assert {
        k: table[0][k] for k in ("task", "category", "state", "result", "rating", "on_time")
    } == {
        "task": uid,
        "category": "elder_care",
        "state": TaskState.CLOSED.value,
        "result": "resolved",
        "rating": "5",
        "on_time": "yes",
    }
    assert table[0]["accepted_at"].startswith("2026-03-02T02:00")


def test_grid_summary_counts_need_and_providers(sessions: sessionmaker[Session]) -> None:
    district = seed(sessions)
    with transaction(sessions) as s:
        request_service(
            s, person_id=district.elder_id, service_category="elder_care", title="助浴", now=T0
        )
        data = grid_summary(s, on=T0.date())
    grids = {g["code"]: g for g in data["grids"]}
    assert set(grids) == {GRID1, GRID2}
    assert grids[GRID1]["residents"] == {
        "residents": 1,
        "aged_80_plus": 1,
        "living_alone": 1,
        "dibao": 1,
        "disabled": 0,
        "tekun": 0,
    }
    assert grids[GRID2]["residents"]["residents"] == 3
    assert grids[GRID2]["residents"]["disabled"] == 1
    assert grids[GRID1]["open_tasks"] == {"elder_care": 1}
    assert grids[GRID1]["workers"] == {"total": 3, "on_duty": 2}
    assert grids[GRID2]["workers"] == {"total": 1, "on_duty": 0}
    assert [o["code"] for o in grids[GRID1]["organisations"]] == ["ORG1", "ORG2"]
