"""The hotline simulator's work orders: numbering, 接诉即办 deadlines, repeat calls, poison."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from simulators.district import District
from simulators.hotline import (
    CATEGORIES,
    POISON_KINDS,
    OrderGenerator,
    WorkOrder,
    deadline_for,
    poison,
)

CHINA = timezone(timedelta(hours=8))
AT = datetime(2024, 10, 19, 9, 0, tzinfo=CHINA)


@pytest.fixture(scope="module")
def orders() -> list[WorkOrder]:
    return list(OrderGenerator(District(persons=5_000, seed=3), seed=3).orders(3_000))


@pytest.mark.parametrize(
    ("category", "urgency", "limit"),
    [
        pytest.param("gas", "紧急", timedelta(hours=2), id="emergency-2h"),
        pytest.param("noise", "紧急", timedelta(hours=2), id="any-emergency-2h"),
        pytest.param("water", "一般", timedelta(hours=24), id="water-24h"),
        pytest.param("power", "一般", timedelta(hours=24), id="power-24h"),
        pytest.param("heating", "一般", timedelta(hours=24), id="heating-24h"),
        pytest.param("noise", "一般", timedelta(days=7), id="general-7d"),
        pytest.param("neighbour", "一般", timedelta(days=15), id="complex-15d"),
    ],
)
def test_deadlines_follow_the_jiesu_jiban_limits(
    category: str, urgency: str, limit: timedelta
) -> None:
    assert deadline_for(category, urgency, AT) - AT == limit


def test_orders_are_numbered_per_day_unique_and_in_the_wire_format(orders: list[WorkOrder]) -> None:
    numbers = [o.order_no for o in orders]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"GD\d{14}", n) for n in numbers)
    assert all(o.order_no[2:10] == f"{o.dispatched_at:%Y%m%d}" for o in orders)
    assert all(o.deadline == deadline_for(o.category, o.urgency, o.dispatched_at) for o in orders)
    assert all(o.called_at < o.dispatched_at for o in orders)


def test_the_wire_message_is_json_without_the_truth(orders: list[WorkOrder]) -> None:
    message = orders[0].message()
    assert not {"person_key", "incident"} & set(message)
    assert json.loads(json.dumps(message, ensure_ascii=False)) == message
    assert message["category_name"] == CATEGORIES[message["category"]][0]
    assert datetime.fromisoformat(message["deadline"]).tzinfo is not None


def test_the_mix_has_utilities_emergencies_unknown_callers_and_outsiders(
    orders: list[WorkOrder],
) -> None:
    categories = {o.category for o in orders}
    assert {"water", "power", "gas", "heating", "noise", "elder_care"} <= categories
    assert 0.1 < sum(o.urgency == "紧急" for o in orders) / len(orders) < 0.4
    assert any(o.caller_name is None for o in orders)
    assert any(o.person_key.startswith("X") for o in orders)  # callers from outside
    assert any(o.person_key.startswith("P") for o in orders)  # residents


def test_repeat_calls_report_one_incident_at_one_address_within_minutes(
    orders: list[WorkOrder],
) -> None:
    incidents = defaultdict(list)
    for order in orders:
        incidents[order.incident].append(order)
    repeated = [calls for calls in incidents.values() if len(calls) > 1]
    assert len(repeated) > 0.05 * len(incidents)
    for calls in repeated:
        assert len({(c.address, c.category) for c in calls}) == 1
        span = max(c.called_at for c in calls) - min(c.called_at for c in calls)
        assert span <= timedelta(minutes=40)
        assert len({c.order_no for c in calls}) == len(calls)


def test_the_generator_is_deterministic_and_endless() -> None:
    district = District(persons=2_000, seed=1)
    first = [o.message() for o in OrderGenerator(district, seed=9).orders(200)]
    again = [o.message() for o in OrderGenerator(district, seed=9).orders(200)]
    assert first == again
    assert len(list(OrderGenerator(district, seed=9).orders(5_000))) == 5_000  # callers cycle


@pytest.mark.parametrize("kind", POISON_KINDS)
def test_each_poison_kind_is_broken_the_way_it_says(kind: str) -> None:
    value = poison(kind)
    if kind == "bad_encoding":
        with pytest.raises(UnicodeDecodeError):
            value.decode("utf-8")
        return
    text = value.decode("utf-8")
    if kind == "not_json":
        with pytest.raises(ValueError, match="Expecting"):
            json.loads(text)
    elif kind == "not_object":
        assert isinstance(json.loads(text), list)
    else:
        assert isinstance(json.loads(text), dict)


def test_an_unknown_poison_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown poison"):
        poison("radioactive")
