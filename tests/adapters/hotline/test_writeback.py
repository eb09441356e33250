"""Replies to the hotline: on its reply topic, keyed by order, counted once per idempotency key."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from adapters.contract import SourceUnavailable
from adapters.hotline import (
    IDEMPOTENCY_HEADER,
    HotlineConfig,
    HotlineWriteback,
    InvalidReply,
    build_reply,
    send_reply,
)
from adapters.hotline.writeback import encode_reply
from simulators.hotline import ReplyInbox
from simulators.hotline import feed as hotline_feed
from simulators.kafka_broker import KafkaBroker

CHINA = timezone(timedelta(hours=8))
AT = datetime(2024, 10, 19, 15, 30, tzinfo=CHINA)


def test_build_reply_refuses_what_the_hotline_would_refuse() -> None:
    reply = build_reply("GD20241019000123", "completed", AT, result="已关阀并更换水管")
    assert reply["status"] == "completed"
    with pytest.raises(InvalidReply, match="status"):
        build_reply("GD20241019000123", "done", AT)
    with pytest.raises(InvalidReply, match="order_no"):
        build_reply("not-an-order", "completed", AT)
    with pytest.raises(InvalidReply, match="at"):
        build_reply("GD20241019000123", "completed", AT.replace(tzinfo=None))


def test_a_reply_carries_the_key_and_the_hotline_status_name() -> None:
    key, value = encode_reply(build_reply("GD20241019000123", "returned", AT), "outbox-7")
    body = json.loads(value)
    assert key == b"GD20241019000123"
    assert (body["status_name"], body["idempotency_key"]) == ("已退回", "outbox-7")
    assert IDEMPOTENCY_HEADER == hotline_feed.IDEMPOTENCY_HEADER  # both sides agree


def test_invalid_payload_or_key_is_refused_before_anything_is_sent() -> None:
    writeback = HotlineWriteback(HotlineConfig(bootstrap_servers="127.0.0.1:9"))
    with pytest.raises(InvalidReply):
        writeback.deliver({"order_no": "GD20241019000123"}, "k1")
    with pytest.raises(InvalidReply):
        writeback.deliver(build_reply("GD20241019000123", "accepted", AT), "")
    writeback.close()


@pytest.mark.integration
def test_replies_land_once_per_idempotency_key_even_when_delivery_is_retried(
    config: HotlineConfig,
) -> None:
    writeback = HotlineWriteback(config)
    try:
        accepted = build_reply("GD20241019000123", "accepted", AT, handler="留下街道网格员")
        done = build_reply(
            "GD20241019000123", "completed", AT + timedelta(hours=1), result="已修复"
        )
        other = build_reply("GD20241019000456", "in_progress", AT)
        writeback.deliver(accepted, "outbox-1")
        writeback.deliver(done, "outbox-2")
        writeback.deliver(done, "outbox-2")  # the relay's retry after a lost acknowledgement
        writeback.deliver(other, "outbox-3")
    finally:
        writeback.close()
    with ReplyInbox(config.bootstrap_servers, config.reply_topic) as inbox:
        replies = inbox.drain(expect=3)
        assert sorted(replies) == ["outbox-1", "outbox-2", "outbox-3"]
        assert inbox.received == 4  # at-least-once on the wire, exactly once per key
        assert [r["status"] for r in inbox.by_order("GD20241019000123")] == [
            "accepted",
            "completed",
        ]
        assert replies["outbox-2"]["result"] == "已修复"


@pytest.mark.integration
def test_delivery_while_the_broker_is_down_is_retryable_and_succeeds_after(
    broker: KafkaBroker, config: HotlineConfig
) -> None:
    quick = config.model_copy(update={"reply_timeout_s": 2.0, "connect_timeout_s": 2.0})
    writeback = HotlineWriteback(quick)
    reply = build_reply("GD20241019000789", "completed", AT, result="已上门查看")
    try:
        writeback.deliver(build_reply("GD20241019000789", "accepted", AT), "outbox-a")
        broker.stop_broker()
        with pytest.raises(SourceUnavailable):
            writeback.deliver(reply, "outbox-b")
        broker.start()
        writeback.deliver(reply, "outbox-b")  # the relay's retry, once the broker is back
    finally:
        if not broker.running:
            broker.start()
        writeback.close()
    with ReplyInbox(config.bootstrap_servers, config.reply_topic) as inbox:
        assert sorted(inbox.drain(expect=2)) == ["outbox-a", "outbox-b"]


@pytest.mark.integration
def test_send_reply_is_a_one_off_delivery(config: HotlineConfig) -> None:
    send_reply(config, build_reply("GD20241019000999", "closed", AT), "outbox-z")
    with ReplyInbox(config.bootstrap_servers, config.reply_topic) as inbox:
        assert inbox.drain(expect=1)["outbox-z"]["status_name"] == "已办结"
