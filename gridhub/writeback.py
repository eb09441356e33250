"""Write-back handlers: where the workflow's outbox meets the source systems.

``workflow`` may not import adapters, so its relay takes handlers by destination; they are
built here, once, from the adapters' own configuration. Each handler translates the
workflow's neutral message (task uid, request ref, operation, state, result) into what the
source expects, and raises when it was not delivered, so the relay retries with backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from workflow.outbox import Handler

HandlerFactory = Callable[[], Handler]

# workflow task state → the 12345 reply status
_HOTLINE_STATUS = {
    "accepted": "accepted",
    "in_progress": "in_progress",
    "completed": "completed",
    "closed": "closed",
    "rejected": "returned",
}

# workflow result code → the wording a 12345 reply carries
_HOTLINE_RESULT = {
    "resolved": "已办结",
    "unresolved": "未解决",
    "referred": "已转办",
    "no_action_needed": "无需处理",
}


def hotline_reply(message: Mapping[str, Any]) -> dict[str, Any]:
    """The 12345 reply for one outbox message (validated; InvalidReply if it cannot be)."""
    from adapters.hotline.writeback import InvalidReply, build_reply

    if message.get("operation") == "completion":
        status = "completed"
    else:
        status = _HOTLINE_STATUS.get(str(message.get("state")), "")
    if not status:
        raise InvalidReply(f"no hotline status for task state {message.get('state')!r}")
    code = message.get("result")
    result = _HOTLINE_RESULT.get(str(code), code) if code else None
    notes = message.get("notes")
    if result and notes:
        result = f"{result}：{notes}"
    return build_reply(
        order_no=str(message.get("request_ref")),
        status=status,
        at=datetime.fromisoformat(str(message["at"])),
        result=str(result)[:2000] if result else None,
        handler=message.get("handled_by"),
        task_id=message.get("task"),
    )


def hotline_handler() -> Handler:
    import adapters.hotline
    from adapters.hotline.writeback import HotlineWriteback
    from gridhub.jobs.sync import adapter_config

    config = adapter_config("hotline", adapters.hotline)
    assert isinstance(config, adapters.hotline.HotlineConfig)
    writeback = HotlineWriteback(config)

    def deliver(message: Mapping[str, Any], idempotency_key: str) -> None:
        writeback.deliver(hotline_reply(message), idempotency_key)

    return deliver


def civil_affairs_visit(message: Mapping[str, Any]) -> dict[str, Any]:
    """The 民政 visit record for one outbox message."""
    code = message.get("result")
    result = _HOTLINE_RESULT.get(str(code), code) if code else None
    notes = message.get("notes")
    if result and notes:
        result = f"{result}：{notes}"
    return {
        "case_ref": message.get("request_ref"),
        "task_ref": message.get("task"),
        "status": message.get("state"),
        "result": str(result)[:400] if result else None,
        "worker": message.get("handled_by"),
        "visited_at": message.get("at"),
    }


def civil_affairs_handler() -> Handler:
    import adapters.civil_affairs
    from adapters.civil_affairs.writeback import CivilAffairsWriteback
    from gridhub.jobs.sync import adapter_config

    config = adapter_config("civil_affairs", adapters.civil_affairs)
    assert isinstance(config, adapters.civil_affairs.CivilAffairsConfig)
    writeback = CivilAffairsWriteback(config)

    def deliver(message: Mapping[str, Any], idempotency_key: str) -> None:
        writeback.deliver(civil_affairs_visit(message), idempotency_key)

    return deliver


def device_gateway_handler() -> Handler:
    """Acknowledge alarms on their gateways (OPC UA method / MQTT command), configured from
    the bridge's settings section so the scheduled relay can reach the gateways too."""
    from device_bridge.ack import configure, deliver
    from device_bridge.config import BridgeConfig
    from gridhub.settings import get_settings

    configure(BridgeConfig.model_validate(get_settings().device_bridge))
    return deliver


#: outbox destination → how to build its handler
HANDLER_FACTORIES: dict[str, HandlerFactory] = {
    "hotline": hotline_handler,
    "civil_affairs": civil_affairs_handler,
    "device_gateway": device_gateway_handler,
}


class LazyHandlers(Mapping[str, Handler]):
    """Handlers built on first use; a destination whose package is missing has none, and
    its messages wait (pending, with the reason) instead of failing."""

    def __init__(self, factories: Mapping[str, HandlerFactory] = HANDLER_FACTORIES) -> None:
        self._factories = dict(factories)
        self._built: dict[str, Handler] = {}

    def __getitem__(self, destination: str) -> Handler:
        if destination not in self._built:
            factory = self._factories.get(destination)
            if factory is None:
                raise KeyError(destination)
            try:
                self._built[destination] = factory()
            except (ImportError, AttributeError):
                raise KeyError(destination) from None
        return self._built[destination]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)
