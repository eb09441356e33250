"""``gridhub tasks``: the commands call the workflow and report refusals clearly.

The store logic is tested on both backends elsewhere; this checks the command surface on
the embedded default.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from canonical_model import Task
from canonical_model.store import make_engine, session_factory, transaction
from gridhub.cli.tasks import app
from tests.workflow.district import BUILDING1, T0, seed
from workflow import default_rules, publish_event

runner = CliRunner()


def test_tasks_commands(sqlite_url: str, tmp_path: Path) -> None:
    sessions = session_factory(make_engine(sqlite_url))
    seed(sessions)
    with transaction(sessions) as s:
        publish_event(
            s,
            type="device.smoke",
            severity="emergency",
            occurred_at=T0,
            source="device_gateway",
            source_ref="a1",
            grid_code=BUILDING1,
            rules=default_rules(),
            now=T0,
        )
    with sessions() as s:
        task = s.scalars(select(Task)).one()
    url = ["--url", sqlite_url]

    listed = runner.invoke(app, ["list", "--assignee", task.assignee or "", *url])
    assert listed.exit_code == 0
    assert task.uid in listed.output

    refused = runner.invoke(app, ["start", task.uid, "--actor", task.assignee or "", *url])
    assert refused.exit_code == 1
    assert "cannot start a task that is pending" in refused.output

    for command in (["accept"], ["start"], ["complete", "--result", "resolved"]):
        done = runner.invoke(app, [*command, task.uid, "--actor", task.assignee or "", *url])
        assert done.exit_code == 0, done.output
    closed = runner.invoke(app, ["close", task.uid, "--actor", "resident", "--rating", "5", *url])
    assert closed.exit_code == 0
    assert "closed" in closed.output

    shown = runner.invoke(app, ["show", task.uid, *url])
    assert "complete" in shown.output
    assert "write-back status_update to device_gateway" in shown.output

    good = tmp_path / "rules.yaml"
    good.write_text("rules:\n  - id: a\n    when: {event.type: x}\n    task: {category: y}\n")
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        "rules:\n  - id: a\n    when: {event.type: x}\n    task: {category: y, sla: 3x}\n"
    )
    assert runner.invoke(app, ["rules", "load", str(good), *url]).exit_code == 0
    refused = runner.invoke(app, ["rules", "load", str(bad), *url])
    assert refused.exit_code == 2
    assert "broken.yaml:4:" in refused.output
    shown = runner.invoke(app, ["rules", "show", *url])
    assert "active: rules.yaml" in shown.output
    assert "* v1" in shown.output

    stats = runner.invoke(
        app, ["stats", "--from", "2026-03-01", "--to", "2026-03-05", "--by", "worker", *url]
    )
    assert stats.exit_code == 0
    assert json.loads(stats.output)[task.assignee or ""]["good_rating_rate"] == 1.0

    out = tmp_path / "ledger.csv"
    ledger = runner.invoke(app, ["ledger", "ORG1", "--out", str(out), "--from", "2026-03-01", *url])
    assert ledger.exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbftask,")
