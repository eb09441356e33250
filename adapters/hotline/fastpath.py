"""The common work order, checked by hand instead of by the pydantic schema.

Nearly every order the hotline sends is well formed, and for those the schema validation
(and its own datetime and time-zone objects, slower to convert and subtract than the
standard library's) was the largest cost of mapping one. ``map_decoded`` accepts an order
only when every field is *plainly* valid — exact ``str`` values (stripped of exactly what the
schema strips), ASCII-only patterns, RFC 3339 timestamps in one strict form with a zone —
and then builds the record with the very code the schema path uses
(``mapping.build_mapped``). Anything else, valid or not, goes to ``map_work_order``
unchanged, so every quarantine reason and every accepted value stays the schema's.

The rule this keeps: whatever the fast path accepts, the schema accepts with equal values
(tests/adapters/hotline/test_fastpath.py holds the two to each other field by field,
every white-space code point and every time-zone offset).

Only dicts that msgspec decoded from the wire come here: msgspec never produces a lone
surrogate, which pydantic would refuse and a plain ``str`` check would not notice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from adapters.contract import Mapped
from adapters.hotline.mapping import build_mapped, map_work_order

__all__ = ["map_decoded"]

_FIELDS = frozenset(
    {
        "order_no",
        "caller_name",
        "caller_phone",
        "caller_id_number",
        "content",
        "address",
        "category",
        "category_name",
        "urgency",
        "channel",
        "called_at",
        "dispatched_at",
        "deadline",
    }
)
_REQUIRED = frozenset(
    {"order_no", "content", "category", "urgency", "channel", "dispatched_at", "deadline"}
)
_URGENCY = frozenset({"紧急", "一般"})
# The schema's patterns, narrowed to ASCII: its ``\d`` also takes other scripts' digits and
# Python's ``$`` a final newline; such values are the schema's to judge.
_ORDER_NO = re.compile(r"[A-Z]{2}[0-9]{8,20}").fullmatch
_CATEGORY = re.compile(r"[a-z_]{2,32}").fullmatch
# One form of RFC 3339 with every field in its range; day 31 of a short month is left to
# ``fromisoformat``, which refuses it (and the schema judges it instead).
_STAMP_FORM = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_STAMP = _STAMP_FORM.fullmatch
_SHORT = 200  # the schema's ShortText
_LONG = 4000  # its Text (the order's content)
_fromisoformat = datetime.fromisoformat
# What pydantic strips (Rust's ``str::trim``): Unicode's White_Space, every code point of it;
# not ``str.isspace``, which also takes U+001C–U+001F.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ABSENT = (None, True)  # an optional field left out or null: valid, and None


def _text(value: Any, limit: int) -> str | None:
    """An exact ``str`` as the schema keeps it (stripped, within ``limit``); else None."""
    if type(value) is not str:
        return None
    text = value.strip(_WHITE_SPACE)
    return text if len(text) <= limit else None


def _stamp(value: Any) -> datetime | None:
    """The time a plainly written timestamp names; None for anything else."""
    if type(value) is not str or not _STAMP(value):
        return None
    try:
        return _fromisoformat(value)
    except ValueError:  # a day the month does not have
        return None


def _optional(value: Any) -> tuple[str | None, bool]:
    """(the text, whether valid) of an optional ShortText field."""
    if value is None:
        return _ABSENT
    text = _text(value, _SHORT)
    return text, text is not None


def _fast(raw: dict[str, Any]) -> Mapped | None:
    """The record of a plainly valid order, or None to let the schema decide."""
    if not (_REQUIRED <= raw.keys() <= _FIELDS):
        return None
    order_no = raw["order_no"]
    category = raw["category"]
    urgency = raw["urgency"]
    content = _text(raw["content"], _LONG)
    channel = _text(raw["channel"], _SHORT)
    if not (
        type(order_no) is str
        and _ORDER_NO(order_no)
        and type(category) is str
        and _CATEGORY(category)
        and type(urgency) is str
        and urgency in _URGENCY
        and content  # at least one character once stripped
        and channel is not None
    ):
        return None
    get = raw.get
    name, name_ok = _optional(get("caller_name"))
    phone, phone_ok = _optional(get("caller_phone"))
    id_number, id_ok = _optional(get("caller_id_number"))
    address, address_ok = _optional(get("address"))
    category_name, category_name_ok = _optional(get("category_name"))
    if not (name_ok and phone_ok and id_ok and address_ok and category_name_ok):
        return None
    dispatched_at = _stamp(raw["dispatched_at"])
    deadline = _stamp(raw["deadline"])
    called = get("called_at")
    called_at = None if called is None else _stamp(called)
    if (
        dispatched_at is None
        or deadline is None
        or (called is not None and called_at is None)
        or deadline <= dispatched_at  # a rejection: the schema path words it
    ):
        return None
    return build_mapped(
        raw,
        order_no,
        (name, phone, id_number, address),
        (category, category_name, urgency, content, channel),
        (called_at, dispatched_at, deadline),
    )


def map_decoded(raw: dict[str, Any]) -> Mapped:
    """Map an order msgspec decoded from the wire: checked by hand when it is plainly
    valid, else by the schema (which raises ``RecordRejected`` for a broken one).

    An exception from building the record (a time at the very end of the calendar that
    UTC cannot hold) is the one the schema path raises for the same values.
    """
    mapped = _fast(raw)
    return mapped if mapped is not None else map_work_order(raw)
