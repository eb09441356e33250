"""Measures on a known set of tasks; stored daily figures agree with the tasks themselves."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model.roster import TaskDailyStats
from canonical_model.store import transaction
from tests.workflow.district import BUILDING1, COMMUNITY, GRID1, GRID2, T0, seed
from workflow import (
    accept,
    close,
    complete,
    default_rules,
    measures,
    publish_event,
    ranking,
    refresh_daily_stats,
    reject,
    start,
)

H = timedelta(hours=1)


def _alarm(s: Session, ref: str, at: datetime) -> tuple[str, str]:
    published = publish_event(
        s,
        type="device.smoke",
        severity="emergency",
        occurred_at=at,
        source="device_gateway",
        source_ref=ref,
        grid_code=BUILDING1,
        rules=default_rules(),
        now=at,
    )  # device emergencies: 2 h limit
    task = published.tasks[0]
    return task.uid, task.assignee or ""


def _work(s: Session, uid: str, who: str, at: datetime, result: str, took: timedelta) -> None:
    accept(s, uid, actor=who, now=at)
    start(s, uid, actor=who, now=at)
    complete(s, uid, actor=who, result=result, now=at + took)


def _known_tasks(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Day 1: A (W1) resolved in 1 h, rated 5; B refused by W2, done late by W1, unresolved,
    rated 3; C (W1) resolved in 1 h, rated 2; D (W2) pending. Day 2: E resolved, rated 4."""
    with transaction(sessions) as s:
        a, wa = _alarm(s, "a", T0)
        b, wb = _alarm(s, "b", T0)
        c, wc = _alarm(s, "c", T0 + H)
        _alarm(s, "d", T0 + 2 * H)
        assert (wa, wb, wc) == ("W1", "W2", "W1")  # fewest open tasks, ties by code
        _work(s, a, "W1", T0, "resolved", H)
        reject(s, b, actor="W2", reason="不在岗", now=T0 + H)  # → W1 (W3 is off duty)
        _work(s, b, "W1", T0 + H, "unresolved", 3 * H)  # 4 h after creation: late
        _work(s, c, "W1", T0 + H, "resolved", H)
        for uid, stars in ((a, 5), (b, 3), (c, 2)):
            close(s, uid, actor="resident", rating=stars, now=T0 + 6 * H)
        e, we = _alarm(s, "e", T0 + 24 * H)
        _work(s, e, we, T0 + 24 * H, "resolved", H)
        close(s, e, actor="resident", rating=4, now=T0 + 30 * H)
    return {"a": a, "b": b, "c": c, "e": e}


def test_measures_on_known_tasks(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    _known_tasks(sessions)
    day1 = (T0 - 9 * H, T0 + 15 * H)  # 2026-03-02 00:00–24:00 in Shanghai
    with sessions() as s:
        f = measures(s, start=day1[0], end=day1[1])["all"]
        by_worker = measures(s, start=day1[0], end=day1[1], group_by="worker")
        both = measures(s, start=day1[0], end=day1[1] + 24 * H)["all"]
        nothing = measures(s, start=day1[0], end=day1[1], scope=GRID2)
    c = f.counts
    assert (c.created, c.responded, c.completed, c.resolved) == (4, 3, 3, 2)
    assert (c.accepts, c.rejects, c.with_deadline, c.on_time) == (3, 1, 3, 2)
    assert (c.rated, c.rating_sum, c.satisfied, c.good) == (3, 10, 2, 1)
    assert f.response_rate == 0.75
    assert f.acceptance_rate == 0.75  # 3 of 4 decisions (Putuo style: accepted / answered)
    assert f.resolution_rate == pytest.approx(2 / 3, abs=1e-4)
    assert f.on_time_rate == pytest.approx(2 / 3, abs=1e-4)
    assert f.satisfaction_rate == pytest.approx(2 / 3, abs=1e-4)  # ≥ 3 stars
    assert f.good_rating_rate == pytest.approx(1 / 3, abs=1e-4)  # ≥ 4 stars
    assert by_worker["W1"].counts.accepts == 3
    assert by_worker["W1"].acceptance_rate == 1.0
    assert by_worker["W2"].counts.rejects == 1
    assert by_worker["W2"].acceptance_rate == 0.0
    assert (by_worker["W1"].counts.created, by_worker["W2"].counts.created) == (3, 1)
    assert (both.counts.created, both.counts.good) == (5, 2)
    assert nothing == {}


def test_stored_daily_figures_agree_with_the_tasks(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    _known_tasks(sessions)
    window = (T0 - 9 * H - 24 * H, T0 + 3 * 24 * H)  # whole days around both task days
    groupings = ("all", "grid", "community", "district", "category", "worker")
    with sessions() as s:
        exact = {g: measures(s, start=window[0], end=window[1], group_by=g) for g in groupings}
    with transaction(sessions) as s:
        result = refresh_daily_stats(s, now=T0 + 40 * 24 * H)  # March is whole
        assert result["days"] == 2
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(TaskDailyStats)) > 0
        for g in groupings:
            stored = measures(s, start=window[0], end=window[1], group_by=g)
            assert {k: v.as_dict() for k, v in stored.items()} == {
                k: v.as_dict() for k, v in exact[g].items()
            }, g
        march = (T0 - 9 * H - 24 * H, T0 - 9 * H + 30 * 24 * H)  # whole month: month rows
        assert measures(s, start=march[0], end=march[1])["all"].as_dict() == (
            exact["all"]["all"].as_dict()
        )
        # a window with partial days at both ends mixes stored days and raw edges
        edges = measures(s, start=T0 - H, end=T0 + 25 * H)["all"]
        assert edges.counts.created == 5
        assert list(measures(s, start=window[0], end=window[1], group_by="community")) == [
            COMMUNITY
        ]
        top = ranking(s, by="worker", start=window[0], end=window[1], order="acceptance_rate")
        assert [k for k, _ in top][:2] == ["W1", "W2"]
        cats = ranking(s, by="grid", start=window[0], end=window[1], order="created")
        assert cats[0][0] == GRID1
        assert cats[0][1].counts.created == 5
