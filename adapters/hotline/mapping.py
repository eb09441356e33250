"""A 12345 work order → canonical fields: the caller as a person, the order as facts.

The hotline knows a caller only by what they said and the number they rang from, so the
person fields are name, phone and address (an ID number is rare); everything about the
order itself — what, where, how urgent, by when — goes into ``facts`` for the workflow.
The wire schema is checked strictly: an unknown field, a number where text belongs or a
deadline without a time zone is a broken order, quarantined whole, not guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError

from adapters.canonical import person_fields
from adapters.contract import Mapped, RecordRejected

ORDER_NO = r"^[A-Z]{2}\d{8,20}$"

Text = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, max_length=4000)]
ShortText = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, max_length=200)]


class WorkOrderMessage(BaseModel):
    """What the hotline publishes for one order (JSON, UTF-8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: Annotated[str, StringConstraints(strict=True, pattern=ORDER_NO)]
    caller_name: ShortText | None = None
    caller_phone: ShortText | None = None
    caller_id_number: ShortText | None = None
    content: Annotated[Text, StringConstraints(min_length=1)]
    address: ShortText | None = None
    category: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z_]{2,32}$")]
    category_name: ShortText | None = None
    urgency: Literal["紧急", "一般"]
    channel: ShortText
    called_at: AwareDatetime | None = None
    dispatched_at: AwareDatetime
    deadline: AwareDatetime


def _utc(value: Any) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def reject_schema(exc: ValidationError, order_no: str | None) -> RecordRejected:
    """A rejection naming the fields and what is wrong with them, never their values."""
    errors = exc.errors(include_input=False, include_url=False)
    kinds = {e["type"] for e in errors}
    if kinds <= {"missing"}:
        code = "schema.missing_field"
    elif kinds <= {"extra_forbidden"}:
        code = "schema.unexpected_field"
    else:
        code = "schema.invalid"
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in errors[:5])
    return RecordRejected(
        code, f"work order does not match the schema ({fields})", source_key=order_no
    )


def map_work_order(raw: Mapping[str, Any]) -> Mapped:
    """Validate one parsed order and map it, or raise ``RecordRejected``."""
    key = raw.get("order_no")
    order_no = key if isinstance(key, str) and len(key) <= 40 else None
    try:
        order = WorkOrderMessage.model_validate(raw)
    except ValidationError as exc:
        raise reject_schema(exc, order_no) from None
    if order.deadline <= order.dispatched_at:
        raise RecordRejected(
            "deadline.before_dispatch",
            "the order's deadline is not after its dispatch time",
            source_key=order.order_no,
        )
    return build_mapped(
        raw,
        order.order_no,
        (order.caller_name, order.caller_phone, order.caller_id_number, order.address),
        (order.category, order.category_name, order.urgency, order.content, order.channel),
        (order.called_at, order.dispatched_at, order.deadline),
    )


def build_mapped(
    raw: Mapping[str, Any],
    order_no: str,
    caller: tuple[str | None, str | None, str | None, str | None],
    order: tuple[str, str | None, str, str, str],
    times: tuple[datetime | None, datetime, datetime],
) -> Mapped:
    """The record of a validated order: shared by the schema path and the checked fast path
    (``adapters.hotline.fastpath``) so that both write the same canonical fields.

    ``caller`` is (name, phone, ID number, address), ``order`` (category, category name,
    urgency, content, channel) and ``times`` (called, dispatched, deadline).
    """
    category, category_name, urgency, content, channel = order
    called_at, dispatched_at, deadline = times
    address = caller[3]
    facts = {
        "kind": "hotline_work_order",
        "role": "caller",
        "order_no": order_no,
        "category": category,
        "category_name": category_name,
        "urgency": urgency,
        "content": content,
        "channel": channel,
        "incident_address": address,
        "called_at": _utc(called_at),
        "dispatched_at": _utc(dispatched_at),
        "deadline": _utc(deadline),
        "sla_hours": round((deadline - dispatched_at).total_seconds() / 3600, 2),
    }
    canonical = person_fields(
        name=caller[0], phone=caller[1], id_number=caller[2], address=address, facts=facts
    )
    return Mapped(source_key=order_no, payload=raw, canonical=canonical)


def reject_unparsed(value: bytes, source_key: str | None) -> RecordRejected:
    """Why bytes that never became a JSON object were refused."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return RecordRejected(
            "encoding.not_utf8", "message is not valid UTF-8", source_key=source_key
        )
    return RecordRejected(
        "schema.not_json_object", "message is not a JSON object", source_key=source_key
    )
