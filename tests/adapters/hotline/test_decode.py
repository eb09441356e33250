"""How a work order's bytes become the dict the mapping and the store see (no broker needed)."""

from __future__ import annotations

import json

import pytest

from adapters.contract import Extracted, Mapped, RecordRejected
from adapters.engine import content_hash
from adapters.hotline.streams import WorkOrdersStream
from tests.adapters.hotline.helpers import make_orders


def _map(value: bytes) -> Mapped:
    stream = WorkOrdersStream(client=None)  # type: ignore[arg-type]  # map() needs no broker
    return stream.map(Extracted(raw=value, cursor={}))


def test_an_order_parses_to_the_same_payload_and_hash_as_python_json() -> None:
    for order in make_orders(50):
        value = json.dumps(order.message(), ensure_ascii=False).encode("utf-8")
        mapped = _map(value)
        expected = json.loads(value.decode("utf-8"))
        assert mapped.payload == expected
        assert content_hash(mapped.payload) == content_hash(expected)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param(b'{"order_no": NaN}', "schema.not_json_object", id="nan-literal"),
        pytest.param(b'{"caller_name": "\\ud800"}', "schema.not_json_object", id="lone-surrogate"),
        pytest.param(b'{"order_no": "GD1"', "schema.not_json_object", id="truncated"),
        pytest.param(b"[" * 5000 + b"]" * 5000, "schema.not_json_object", id="too-deep"),
        pytest.param(b'{"caller_name": "\xff"}', "encoding.not_utf8", id="not-utf8"),
        pytest.param(b'["GD1"]', "schema.not_json_object", id="not-an-object"),
    ],
)
def test_bytes_that_are_not_a_json_object_are_refused_with_a_reason(
    value: bytes, code: str
) -> None:
    with pytest.raises(RecordRejected) as refused:
        _map(value)
    assert refused.value.reason_code == code
