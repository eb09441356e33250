"""Status updates and outcomes back to the hotline, on its reply topic.

The workflow's outbox relay calls ``HotlineWriteback.deliver(payload, idempotency_key)``
for each outbox row, and retries it until it returns. Kafka gives at-least-once: a reply
whose acknowledgement was lost is sent again on retry, so every reply carries the outbox
row's idempotency key — as the ``idempotency-key`` header and inside the JSON — and the
hotline keeps the first reply per key. The message key is the order number, so all replies
about one order land in one partition, in order.

Errors: ``SourceUnavailable`` means "not delivered, try again later" (broker down, no
acknowledgement in time); ``InvalidReply`` means the payload itself is wrong and a retry
cannot help — the relay should park the row instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError

from adapters.hotline.client import HotlineClient
from adapters.hotline.config import HotlineConfig
from adapters.hotline.mapping import ORDER_NO

IDEMPOTENCY_HEADER = "idempotency-key"

#: gridhub task state → the hotline's order status vocabulary.
STATUSES = {
    "accepted": "已受理",
    "in_progress": "处理中",
    "completed": "已办结",
    "returned": "已退回",
    "closed": "已办结",
}


class InvalidReply(ValueError):
    """A payload the hotline would refuse; retrying it cannot succeed."""


class ReplyPayload(BaseModel):
    """What gridhub tells the hotline about one order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no: Annotated[str, StringConstraints(pattern=ORDER_NO)]
    status: Literal["accepted", "in_progress", "completed", "returned", "closed"]
    at: AwareDatetime
    result: Annotated[str, StringConstraints(max_length=2000)] | None = None
    handler: Annotated[str, StringConstraints(max_length=200)] | None = None
    task_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    return_reason: Annotated[str, StringConstraints(max_length=500)] | None = None


def build_reply(
    order_no: str,
    status: str,
    at: datetime,
    *,
    result: str | None = None,
    handler: str | None = None,
    task_id: str | None = None,
    return_reason: str | None = None,
) -> dict[str, Any]:
    """A reply payload as the outbox should store it (checked now, not at delivery)."""
    payload = {
        "order_no": order_no,
        "status": status,
        "at": at.isoformat(),
        "result": result,
        "handler": handler,
        "task_id": task_id,
        "return_reason": return_reason,
    }
    _validate(payload)
    return payload


def _validate(payload: Mapping[str, Any]) -> ReplyPayload:
    try:
        return ReplyPayload.model_validate(payload)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise InvalidReply(f"reply payload does not match the schema ({fields})") from None


def encode_reply(payload: Mapping[str, Any], idempotency_key: str) -> tuple[bytes, bytes]:
    """(message key, message value) for one reply."""
    reply = _validate(payload)
    body = {
        **reply.model_dump(mode="json"),
        "status_name": STATUSES[reply.status],
        "idempotency_key": idempotency_key,
    }
    value = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return reply.order_no.encode(), value


class HotlineWriteback:
    """Delivers replies on the reply topic; one producer, created on first use."""

    def __init__(self, config: HotlineConfig, client: HotlineClient | None = None) -> None:
        self.config = config
        self._client = client or HotlineClient(config)

    def deliver(self, payload: Mapping[str, Any], idempotency_key: str) -> None:
        """Publish one reply and return once the broker holds it (acks=all).

        Raises ``SourceUnavailable`` (retry later) or ``InvalidReply`` (do not retry).
        """
        if not idempotency_key or len(idempotency_key) > 200:
            raise InvalidReply("an idempotency key of 1 to 200 characters is required")
        key, value = encode_reply(payload, idempotency_key)
        self._client.send(key, value, [(IDEMPOTENCY_HEADER, idempotency_key.encode())])

    def close(self) -> None:
        self._client.close()


def send_reply(config: HotlineConfig, payload: Mapping[str, Any], idempotency_key: str) -> None:
    """One-off delivery (a CLI or a test); a relay should keep one ``HotlineWriteback``."""
    writeback = HotlineWriteback(config)
    try:
        writeback.deliver(payload, idempotency_key)
    finally:
        writeback.close()
