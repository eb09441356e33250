"""The rules language (table-driven, no store) and rule versions in the store."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from canonical_model import Task
from canonical_model.store import transaction
from tests.workflow.district import BUILDING1, T0, seed
from workflow import (
    RulesError,
    active_rules,
    default_rules,
    load_rules,
    parse_duration,
    parse_rules,
    publish_event,
)

RULES = """\
version: test-1
defaults: {sla: 7d}
rules:
  - id: welfare
    when:
      event.type: utility.no_usage
      person.age: {gte: 70}
      person.living_alone: true
    task: {category: welfare_check, priority: urgent, sla: 2h}
  - id: dibao_or_disabled
    when:
      person.tags: {has_any: [dibao, disabled]}
    unless:
      person.status: deceased
    task: {category: benefits, sla: 15d}
  - id: leak
    when:
      event.type: [utility.spike, hotline.work_order]
      payload.kind: water
    task: {category: leak_check, sla: 24h}
    stop: true
  - id: after_stop
    when:
      event.type: utility.spike
    task: {category: after_stop}
"""


def facts(**kw: Any) -> dict[str, Any]:
    person = {
        "known": True,
        "age": None,
        "tags": [],
        "living_alone": False,
        "status": "active",
        **kw.pop("person", {}),
    }
    return {
        "event": {"type": kw.pop("type", "x"), "severity": "medium", "source": "t"},
        "payload": kw.pop("payload", {}),
        "person": person,
        "place": {"known": True, "level": "grid", "code": "1"},
    }


@pytest.mark.parametrize(
    ("given", "categories"),
    [
        pytest.param(
            facts(type="utility.no_usage", person={"age": 82, "living_alone": True}),
            ["welfare_check"],
            id="82-alone-silent-home",
        ),
        pytest.param(
            facts(type="utility.no_usage", person={"age": 70, "living_alone": True}),
            ["welfare_check"],
            id="exactly-70",
        ),
        pytest.param(
            facts(type="utility.no_usage", person={"age": 69, "living_alone": True}),
            [],
            id="69-is-too-young",
        ),
        pytest.param(
            facts(type="utility.no_usage", person={"age": 90, "living_alone": False}),
            [],
            id="90-not-alone",
        ),
        pytest.param(
            facts(type="utility.no_usage", person={"known": False}), [], id="unknown-person"
        ),
        pytest.param(
            facts(
                type="utility.no_usage",
                person={"age": 75, "living_alone": True, "tags": ["dibao"]},
            ),
            ["welfare_check", "benefits"],
            id="two-rules-two-tasks",
        ),
        pytest.param(
            facts(person={"tags": ["disabled"], "status": "deceased"}), [], id="unless-wins"
        ),
        pytest.param(
            facts(type="utility.spike", payload={"kind": "water"}), ["leak_check"], id="stop-stops"
        ),
        pytest.param(
            facts(type="utility.spike", payload={"kind": "power"}),
            ["after_stop"],
            id="stop-only-when-matched",
        ),
    ],
)
def test_rules_decide_from_event_and_person(given: dict[str, Any], categories: list[str]) -> None:
    evaluation = parse_rules(RULES).evaluate(given)
    assert [d.task.category for d in evaluation.decisions] == categories
    assert evaluation.failures == []


def test_a_task_spec_carries_priority_and_sla() -> None:
    rules = parse_rules(RULES)
    decision = rules.evaluate(
        facts(type="utility.no_usage", person={"age": 80, "living_alone": True})
    ).decisions[0]
    assert (decision.task.priority, decision.task.sla) == ("urgent", timedelta(hours=2))
    assert decision.task.assign == "grid_worker"
    assert decision.task.reply_to == "source"


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("2h", timedelta(hours=2)),
        ("24h", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("15d", timedelta(days=15)),
        ("30m", timedelta(minutes=30)),
        ("1w", timedelta(days=7)),
    ],
)
def test_durations(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


BROKEN = [
    pytest.param(
        "rules:\n  - id: a\n    when: {event.type: x\n",
        4,
        "flow mapping started on line 3",
        id="unclosed",
    ),
    pytest.param(
        "rules:\n  - id: a\n    when: {event.type: x}\n   task: {category: y}\n",
        4,
        "not valid YAML",
        id="indent",
    ),
    pytest.param(RULES.replace("sla: 2h}", "sla: 2 hours}"), 9, "not a duration", id="bad-sla"),
    pytest.param(RULES.replace("{gte: 70}", "{atleast: 70}"), 7, "unknown operator", id="op"),
    pytest.param(RULES.replace("person.age", "persn.age"), 7, "must start with", id="namespace"),
    pytest.param(
        RULES.replace("    stop: true\n", "    stop: yes please\n"), 21, "stop", id="stop"
    ),
    pytest.param(RULES.replace("priority: urgent", "priority: asap"), 9, "priority", id="prio"),
    pytest.param(RULES.replace("  - id: leak", "  - id: welfare"), 16, "used twice", id="dup-id"),
    pytest.param(
        RULES.replace("    unless:", "    when: {event.type: y}\n    unless:"),
        13,
        "duplicate key",
        id="dup-key",
    ),
    pytest.param(
        RULES.replace("    task: {category: benefits", "    tsk: {category: benefits"),
        15,
        "unknown key",
        id="typo-key",
    ),
    pytest.param("", 1, "empty", id="empty"),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN)
def test_broken_rules_are_refused_with_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "district.yaml")
    assert info.value.line == line, str(info.value)
    assert message in str(info.value)
    assert str(info.value).startswith(f"district.yaml:{line}: ")


def test_a_rule_that_fails_on_one_event_does_not_stop_the_others() -> None:
    rules = parse_rules(
        "rules:\n"
        "  - id: high_floor\n"
        "    when: {payload.floor: {gte: 10}}\n"
        "    task: {category: lift_check}\n"
        "  - id: any\n"
        "    when: {event.type: x}\n"
        "    task: {category: visit}\n"
    )
    bad = rules.evaluate(facts(payload={"floor": "十二"}))  # text where a number was expected
    good = rules.evaluate(facts(payload={"floor": 12}))
    assert [d.task.category for d in bad.decisions] == ["visit"]
    assert [f.rule_id for f in bad.failures] == ["high_floor"]
    assert "TypeError" in bad.failures[0].error
    assert "十二" not in bad.failures[0].error
    assert [d.task.category for d in good.decisions] == ["lift_check", "visit"]


def test_shipped_default_rules_parse() -> None:
    rules = default_rules()
    assert len(rules.rules) >= 10
    assert rules.version == 0


def test_rules_versions_change_without_code_and_broken_files_keep_the_old(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    seed(sessions)
    custom = (
        "version: v2\nrules:\n"
        "  - id: smoke\n    when: {event.type: device.smoke}\n"
        "    task: {category: fire_check, priority: urgent, sla: 30m}\n"
        "  - id: fragile\n    when: {payload.floor: {gt: 3}}\n    task: {category: stairs}\n"
    )
    with transaction(sessions) as s:
        assert active_rules(s).version == 0  # the shipped default until a district loads one
        v1 = load_rules(s, custom, loaded_by="it-admin", source_name="district.yaml", now=T0)
        assert load_rules(s, custom, loaded_by="it-admin").version == v1.version  # no-op
    with transaction(sessions) as s, pytest.raises(RulesError) as info:
        load_rules(s, custom.replace("sla: 30m", "sla: soon"), loaded_by="it-admin")
    assert info.value.line == 5
    with transaction(sessions) as s:
        rules = active_rules(s)
        assert (rules.version, rules.label) == (v1.version, "v2")
        with caplog.at_level(logging.WARNING, logger="workflow.triage"):
            bad = publish_event(
                s,
                type="device.smoke",
                occurred_at=T0,
                source="gw",
                source_ref="a1",
                grid_code=BUILDING1,
                payload={"floor": "三"},
                rules=rules,
                now=T0,
            )
            good = publish_event(
                s,
                type="device.smoke",
                occurred_at=T0,
                source="gw",
                source_ref="a2",
                grid_code=BUILDING1,
                payload={"floor": 5},
                rules=rules,
                now=T0,
            )
    assert [t.category for t in bad.tasks] == ["fire_check"]
    assert [t.category for t in good.tasks] == ["fire_check", "stairs"]
    assert f"rule fragile failed on event {bad.intake.event.uid}" in caplog.text
    with sessions() as s:
        task = s.scalars(select(Task).where(Task.category == "fire_check")).first()
        assert task is not None
        assert task.sla_deadline == T0 + timedelta(minutes=30)
        assert "rule smoke (rules v2 v1)" in (task.transitions[0].reason or "")
