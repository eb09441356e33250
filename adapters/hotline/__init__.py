"""The 12345 citizen hotline: work orders from its Kafka topic, replies back on another.

``create_adapter(config)`` gives the bounded adapter that ``run_sync("hotline")`` and the
DAG use; ``HotlineAdapter(config, follow=True, should_stop=…)`` is the long-lived consumer
behind ``gridhub consume hotline``. ``HotlineWriteback`` is what the workflow's outbox relay
calls to send status updates and outcomes back.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.contract import Adapter, Stream
from adapters.hotline.client import HotlineClient
from adapters.hotline.config import HotlineConfig
from adapters.hotline.streams import StopCheck, WorkOrdersStream
from adapters.hotline.writeback import (
    IDEMPOTENCY_HEADER,
    HotlineWriteback,
    InvalidReply,
    build_reply,
    send_reply,
)
from adapters.parallel import PageMapper

__all__ = [
    "IDEMPOTENCY_HEADER",
    "HotlineAdapter",
    "HotlineConfig",
    "HotlineWriteback",
    "InvalidReply",
    "WorkOrdersStream",
    "build_reply",
    "create_adapter",
    "send_reply",
]


class HotlineAdapter(Adapter):
    name = "hotline"

    def __init__(
        self,
        config: HotlineConfig,
        *,
        follow: bool = False,
        should_stop: StopCheck | None = None,
    ) -> None:
        self.config = config
        self.client = HotlineClient(config)
        self.mapper = PageMapper(config.map_workers, label="hotline mapping")
        self._streams = [
            WorkOrdersStream(
                self.client, follow=follow, should_stop=should_stop, mapper=self.mapper
            )
        ]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def check_connection(self) -> tuple[bool, str | None]:
        return self.client.check()

    def writeback(self) -> HotlineWriteback:
        """A reply sender sharing this adapter's connection settings (own producer)."""
        return HotlineWriteback(self.config)

    def close(self) -> None:
        self.mapper.close()
        self.client.close()


def create_adapter(config: HotlineConfig) -> Adapter:
    return HotlineAdapter(config)
