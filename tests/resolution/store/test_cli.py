"""``gridhub resolve --store`` and ``gridhub review …`` (queue and manual merges) through Typer."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from canonical_model import MatchReview, Person, PersonStatus, ReviewStatus
from canonical_model.store import make_engine, session_factory
from gridhub.cli import resolve as resolve_cli
from gridhub.cli import review as review_cli
from gridhub.jobs.resolution import store_summary
from gridhub.settings import get_settings
from gridhub.wiring import engine as wired_engine
from tests.resolution.store.district import person_of


@pytest.fixture
def app() -> typer.Typer:
    """The commands registered the way the lead's CLI will register them."""
    app = typer.Typer()
    app.command("resolve")(resolve_cli.command)
    app.add_typer(review_cli.app, name="review")
    return app


@pytest.fixture
def hub_url(
    sqlite_resolved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    target = tmp_path / "hub.db"
    shutil.copyfile(sqlite_resolved, target)
    url = f"sqlite:///{target}"
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", url)
    get_settings.cache_clear()
    wired_engine.cache_clear()
    yield url
    get_settings.cache_clear()
    wired_engine.cache_clear()


_STATE = ("persons", "merges", "review_queue", "insufficient_identifiers")


def _state_of(url: str) -> dict[str, int]:
    """The four store figures the job summary reports, counted here independently."""
    engine = make_engine(url)
    with session_factory(engine)() as s:
        persons = s.scalars(select(Person).where(Person.status != PersonStatus.MERGED)).all()
        merged = s.scalar(
            select(func.count()).select_from(Person).where(Person.status == PersonStatus.MERGED)
        )
        queue = s.scalar(
            select(func.count())
            .select_from(MatchReview)
            .where(MatchReview.status == ReviewStatus.OPEN)
        )
    engine.dispose()
    return {
        "persons": len(persons),
        "merges": int(merged or 0),
        "review_queue": int(queue or 0),
        "insufficient_identifiers": sum("insufficient_identifiers" in p.flags for p in persons),
    }


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_store_commands_end_to_end(app: typer.Typer, hub_url: str) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["resolve", "--store"])
    assert done.exit_code == 0, done.output
    first = _lines(done.output)[0]
    assert (first["mode"], first["records"]) == ("incremental", 0)
    full = runner.invoke(app, ["resolve", "--store", "--full"])
    assert full.exit_code == 0, full.output
    summary = _lines(full.output)[0]
    assert summary["run"]["records_relinked"] == 0
    assert {k: summary[k] for k in _STATE} == {k: first[k] for k in _STATE}
    assert summary == {**summary, **_state_of(hub_url)}
    assert summary["review_queue"] > 0
    assert summary["insufficient_identifiers"] > 0
    listed = runner.invoke(app, ["review", "list", "--limit", "100"])
    items = _lines(listed.output)
    collision = next(i for i in items if i["reason"] == "id_name_mismatch")
    assert "诸葛" not in listed.output  # references and scores only
    no_actor = runner.invoke(app, ["review", "reject", str(collision["uid"])])
    assert no_actor.exit_code == 2
    rejected = runner.invoke(app, ["review", "reject", str(collision["uid"]), "--actor", "c1"])
    assert rejected.exit_code == 0, rejected.output
    again = runner.invoke(app, ["review", "accept", str(collision["uid"]), "--actor", "c1"])
    assert again.exit_code == 1
    assert "already rejected" in again.output
    engine = make_engine(hub_url)
    with session_factory(engine)() as s:
        uids = [
            s.scalar(select(Person.uid).where(Person.id == person_of(s, "hukou", k)))
            for k in ("G-HK", "C-HK")
        ]
    merged = runner.invoke(app, ["review", "merge", str(uids[0]), str(uids[1]), "--actor", "c2"])
    assert merged.exit_code == 0, merged.output
    assert _lines(merged.output)[0]["into"] == uids[1]
    after_merge = store_summary(hub_url)
    assert after_merge == _state_of(hub_url)
    assert (after_merge["merges"], after_merge["persons"]) == (
        summary["merges"] + 1,
        summary["persons"] - 1,
    )
    undone = runner.invoke(app, ["review", "unmerge", str(uids[0]), "--actor", "c2"])
    assert undone.exit_code == 0, undone.output
    assert store_summary(hub_url)["merges"] == summary["merges"]
    with session_factory(engine)() as s:
        status = s.scalar(select(Person.status).where(Person.uid == uids[0]))
        assert status == PersonStatus.ACTIVE
    engine.dispose()
    wrong = runner.invoke(app, ["resolve", "--full"])
    assert wrong.exit_code == 2
